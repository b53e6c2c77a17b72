// The version tessera writes into provenance records and C2PA manifests.
#pragma once
#define TESSERA_VERSION "0.1.0"
