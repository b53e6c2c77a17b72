#!/usr/bin/env python3
"""tessera's WordPiece tokenizer against the reference, Hugging Face tokenizers
(models/venv, with the tokenizer.json that ships with the weights).

  1. texts: a deterministic mix of sentences (words, mixed case, typos, digits,
     punctuation, accents and combining marks, Greek, Cyrillic, Arabic,
     Devanagari, CJK, kana, Hangul, full-width forms, emoji with modifiers and
     joiners, controls, NUL, U+FFFD, odd whitespace, words of 99-101 and
     hundreds of characters, empty and blank texts, long texts cut to the
     window) -> ids, piece count and truncation flag must equal the reference's;
  2. code points: "a<cp>b" for every code point of the planes that hold
     characters (the big uniform CJK, Hangul and private-use blocks sampled)
     -> the words before WordPiece must equal the reference's, except exactly
     at the code points listed in tests/text/unicode_known_diffs.txt.

usage: wordpiece_ref.py TEST_BINARY VOCAB TOKENIZER_JSON TMPDIR
"""
import random
import subprocess
import sys
import unicodedata

from tokenizers import Tokenizer

BIN, VOCAB, TOKJSON, TMP = sys.argv[1:5]
KNOWN = "tests/text/unicode_known_diffs.txt"


def known_diffs():
    out = set()
    for line in open(KNOWN):
        if line.strip() and not line.startswith("#"):
            lo, hi = line.split()[:2]
            out.update(range(int(lo, 16), int(hi, 16) + 1))
    return out


DIFF = known_diffs()

WORDS = ("a the red green blue yellow cyan magenta white black orange purple circle square triangle disc ball "
         "moves drifts glides slides leftward rightward toward top bottom of frame stays still behind in front "
         "crimson scarlet azure emerald tiny huge slowly quickly bounces spins rotates camera zooms pans "
         "unaffable tokenization preprocessing antidisestablishmentarianism supercalifragilistic "
         "don't it's o'clock e-mail state-of-the-art U.S.A. Mr. Dr. #hashtag @user 3.14 1,000 2nd 42% $5 "
         "covid-19 mp4 h264 ¿qué? ¡hola! naïve café résumé façade jalapeño Zürich São Øresund Ærø straße "
         "İstanbul ıi ǅemal Ǆ ŉ ﬁne ﬂow ŒUVRE œuvre Ångström ḱṓñ").split()
SCRIPTS = ["Σίσυφος ΟΔΟΣ ἄνθρωπος", "Москва ЁЛКА привет", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
           "สวัสดีครับ", "東京タワー", "北京欢迎你", "こんにちは世界", "カタカナ ひらがな", "한국어 문장 테스트",
           "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３", "ｶﾀｶﾅ", "Tiếng Việt có dấu", "Ελληνικά ΆΈΉ", "Ǳ ǲ ǳ",
           "e\u0301 a\u0300 n\u0303 o\u0308", "\u1e9b\u0323", "ℌ ℍ Ω K Å", "𝐀𝐁𝐂 𝔸𝔹", "①②③ ½ ²³"]
EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "❤\ufe0f", "🥰", "🤖", "✨", "🔴", "⬅️", "➡", "🟥", "🐱", "🚀",
         "\u263a", "©", "®", "™", "°", "±", "×", "÷", "€", "£", "¥", "§", "¶", "…", "—", "–", "“quoted”", "‘single’",
         "«guillemets»", "„low“", "‹›", "¡", "¿", "·", "•", "※", "‰", "′″", "⁂", "、", "。", "「括弧」", "【】", "〜"]
ODD = ["\t", "\n", "\r\n", "\x0b", "\x0c", "\x00", "\ufffd", "\u00a0", "\u200b", "\u200d", "\u00ad", "\ufeff",
       "\u2028", "\u2029", "\u3000", "\u202f", "\u2009", "\x7f", "\x85", "\x1b[0m", "\u0301", "\ue000", "\U000f0000",
       "\u0378", "\U0001fffe"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "--", "?!", "''", "(!)", "[...]", ",,", "<>", "->"]


def typo(rng, w):
    if len(w) < 3:
        return w
    i = rng.randrange(len(w) - 1)
    k = rng.randrange(4)
    if k == 0:
        return w[:i] + w[i + 1] + w[i] + w[i + 2:]
    if k == 1:
        return w[:i] + w[i + 1:]
    if k == 2:
        return w[:i] + w[i] + w[i:]
    return w[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[i + 1:]


def case(rng, w):
    k = rng.randrange(5)
    return [w, w.upper(), w.capitalize(), w.swapcase(), "".join(c.upper() if rng.random() < .5 else c for c in w)][k]


def random_cp(rng):
    while True:
        cp = rng.choice([rng.randrange(0x20, 0x3000), rng.randrange(0x3000, 0x10000), rng.randrange(0x10000, 0x20000),
                         rng.randrange(0x20000, 0x30000)])
        if not 0xD800 <= cp <= 0xDFFF and cp not in DIFF:
            return chr(cp)


def sentence(rng, kind):
    if kind == 0:  # words, case, typos, punctuation
        ws = [case(rng, typo(rng, rng.choice(WORDS)) if rng.random() < .2 else rng.choice(WORDS)) for _ in range(rng.randint(1, 14))]
        return " ".join(w + (rng.choice(PUNCT) if rng.random() < .25 else "") for w in ws)
    if kind == 1:  # scripts and emoji mixed with words
        parts = [rng.choice(SCRIPTS + EMOJI + WORDS) for _ in range(rng.randint(1, 8))]
        return rng.choice(["", " ", "  "]).join(parts)
    if kind == 2:  # odd characters between words
        return "".join(rng.choice(WORDS) + rng.choice(ODD + [" "]) for _ in range(rng.randint(1, 6)))
    if kind == 3:  # digits and numbers
        return " ".join(rng.choice([str(rng.randint(0, 10 ** rng.randint(1, 12))), "%.3f" % rng.uniform(-1e4, 1e4),
                                    "%d:%02d" % (rng.randint(0, 23), rng.randint(0, 59)), "1e-6", "0x1F", "v2.0.1",
                                    "2024-05-01", "+49 (0)30 1234", rng.choice(WORDS)]) for _ in range(rng.randint(1, 8)))
    if kind == 4:  # long words around the 100-character limit
        n = rng.choice([98, 99, 100, 101, 102, 150, 400])
        w = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzé") for _ in range(n))
        return rng.choice(WORDS) + " " + w + " " + rng.choice(WORDS)
    if kind == 5:  # random code points (not where the Unicode tables knowingly differ)
        return "".join(random_cp(rng) if rng.random() < .7 else " " for _ in range(rng.randint(1, 20)))
    if kind == 6:  # long texts: truncated in every window
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 300)))
    return rng.choice(["", " ", "\t\n", "\x00", "\ufffd", "\u200b", "...", "!", "a", "A", "É", "東", "😀", "##",
                       "[CLS]", "[UNK] [SEP]", "##ing", "un##able"])  # 7: empty, blank and tiny texts


def texts():
    rng = random.Random(16)
    out = []
    for i in range(3000):
        kind = i % 8
        window = rng.choice([128, 128, 128, 32, 16, 8, 2, 512])
        out.append((window, sentence(rng, kind)))
    return out


def run_c(mode, args):
    r = subprocess.run([BIN, mode] + args, capture_output=True, text=True)
    if r.returncode:
        sys.exit("FAIL: %s %s: %s" % (BIN, mode, r.stderr))


def check_ids(tok):
    cases = texts()
    with open(TMP + "/ids.in", "w") as f:
        for L, s in cases:
            f.write("%d %s\n" % (L, s.encode().hex()))
    run_c("--ids", [VOCAB, TMP + "/ids.in", TMP + "/ids.out"])
    got = open(TMP + "/ids.out").read().splitlines()
    assert len(got) == len(cases), "C wrote %d lines for %d texts" % (len(got), len(cases))
    tok.no_padding()
    bad, cut = 0, 0
    for (L, s), line in zip(cases, got):
        tok.no_truncation()
        full = tok.encode(s).ids
        tok.enable_truncation(L)
        ref = tok.encode(s).ids
        want = [len(ref), len(full) - 2, int(len(full) > L)] + ref
        cut += len(full) > L
        have = [int(x) for x in line.split()] if not line.startswith("error") else line
        if have != want:
            bad += 1
            if bad <= 10:
                print("MISMATCH window %d text %r\n  C   %s\n  ref %s" % (L, s, have, want))
    print("%s %d texts (%d truncated to their window): ids, piece counts and truncation flags %s" %
          ("FAIL" if bad else "ok ", len(cases), cut, "differ in %d" % bad if bad else "equal the reference's"))
    return bad == 0


def code_points():
    for cp in range(0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        big = 0x3400 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7A3 or 0xE000 <= cp <= 0xF8FF or cp >= 0x20000
        if not big or cp % 13 == 0:
            yield cp
    for cp in range(0x30000, 0x110000, 97):
        yield cp
    yield from range(0xE0000, 0xE0080)


def check_code_points(tok):
    cps = list(code_points())
    with open(TMP + "/words.in", "w") as f:
        for cp in cps:
            f.write(("a" + chr(cp) + "b").encode().hex() + "\n")
    run_c("--words", [TMP + "/words.in", TMP + "/words.out"])
    got = open(TMP + "/words.out").read().splitlines()
    assert len(got) == len(cps)
    differ = set()
    for cp, line in zip(cps, got):
        text = "a" + chr(cp) + "b"
        ref = [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))]
        have = [bytes.fromhex(h).decode() for h in line.split()]
        if have != ref:
            differ.add(cp)
    known = DIFF & set(cps)
    extra, missing = sorted(differ - known), sorted(known - differ)
    for cp in extra[:10]:
        print("DIFFERS U+%04X %s %r" % (cp, unicodedata.category(chr(cp)), "a" + chr(cp) + "b"))
    for cp in missing[:10]:
        print("LISTED AS DIFFERENT BUT EQUAL U+%04X" % cp)
    ok = not extra and not missing
    print("%s %d code points: words before WordPiece equal the reference's but at the %d listed in %s%s" %
          ("ok " if ok else "FAIL", len(cps), len(known), KNOWN,
           "" if ok else " (%d more differ, %d listed ones agree)" % (len(extra), len(missing))))
    return ok


def main():
    tok = Tokenizer.from_file(TOKJSON)
    ok = check_ids(tok)
    ok = check_code_points(tok) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
