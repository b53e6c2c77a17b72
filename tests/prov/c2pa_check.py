#!/usr/bin/env python3
"""The independent validator of tessera's manifests: the C2PA reference
implementation (c2pa-rs, through the c2pa-python bindings from PyPI).

usage: c2pa_check.py [--trust CA.pem] FILE...
For each file prints one line: "valid <state>" when the claim signature
validates, every hashed URI matches and the BMFF hard binding matches, with no
failure code (signingCredential.untrusted is allowed without --trust);
otherwise "invalid <codes>". Exit 0 when every file is valid, 1 otherwise.
"""
import json, sys
import c2pa

args = sys.argv[1:]
ctx = None
allowed = {"signingCredential.untrusted"}
if args[:1] == ["--trust"]:
    anchors = open(args[1]).read()
    ctx = c2pa.Context.from_json(json.dumps({"trust": {"trust_anchors": anchors}, "verify": {"verify_trust": True}}))
    args = args[2:]
    allowed = set()
bad = 0
for path in args:
    try:
        with (c2pa.Reader(path, context=ctx) if ctx else c2pa.Reader(path)) as r:
            store = json.loads(r.json())
    except Exception as e:  # no manifest, unreadable manifest
        print("invalid %s: %s" % (path, str(e).splitlines()[0][:200]))
        bad += 1
        continue
    res = store.get("validation_results", {}).get("activeManifest", {})
    ok = {s["code"] for s in res.get("success", [])}
    fail = [s["code"] for s in res.get("failure", []) if s["code"] not in allowed]
    need = {"claimSignature.validated", "assertion.bmffHash.match"}
    if fail or not need <= ok:
        print("invalid %s: %s" % (path, " ".join(fail) or "missing " + " ".join(sorted(need - ok))))
        bad += 1
    else:
        print("valid %s %s" % (path, store.get("validation_state")))
sys.exit(1 if bad else 0)
