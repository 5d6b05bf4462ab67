"""Our GPT-2 tokenizer (the test program `tokenize`) against tiktoken's `gpt2` encoding, token for token.

Groups of text, each case a file in the workdir that goes through `tokenize encode`:
- hard: named cases written for the corners of GPT-2's pattern and BPE (contractions, numbers,
  white space runs, every script family, emoji sequences, combining marks, `<|endoftext|>` as
  text, unusual white space and zero-width characters, long pieces); the ids must equal
  tiktoken's encode_ordinary;
- special: the hard cases that hold `<|endoftext|>`, again with --allow-special, against
  tiktoken's encode(text, allowed_special="all");
- random: --random-mb MB of seeded random UTF-8 in cases of 256 KiB: code points from every
  plane 0-16 (surrogates excepted) in runs mixed with ASCII words, contractions, digits, white
  space and punctuation, so that the pattern sees text-like structure.
The ids we give for each case go back through `decode` and `decode-stream`, which must give the
input bytes exactly; a group `split` decodes texts given as one token per byte, so characters
arrive in pieces. Then the refusals: invalid UTF-8 (exit 2, one `error:` line with the offset of
the first bad byte, as Python's decoder reports it), an id the vocabulary lacks (exit 2, one line
naming the id) and a missing or truncated encoder.json (exit 2, one line naming the file).

A mismatch prints the case, the first differing token, ids and token bytes from both sides, and
the characters around it with code point and Unicode category (Python 3.11's unicodedata: Unicode
14, as Debian 12's PCRE2 10.42). tiktoken 0.12's Rust regex knows Unicode 16, so letters and
numbers assigned by Unicode 15 and 16 are "other" to an older PCRE2, and where GPT-2 has a merge
across the piece boundary that makes the tokens differ. That one known difference is checked on
its own (group newer-unicode: the tokens must differ while PCRE2's tables are older than
tiktoken's, and agree once they are not), and the random text then leaves out the code points
PCRE2's tables leave unassigned, except in planes 4-13, which no Unicode up to 16 assigns. Every
case runs; one summary line per group when all pass.

Usage: check_tokenizer_tiktoken.py --tool TOKENIZE --vocab-dir DIR --workdir DIR [--random-mb N]
       [--seed S]   (exit 0 pass, 1 mismatch, 77 tiktoken missing)
"""

import argparse
import os
import random
import re
import string
import subprocess
import sys
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

EOT = 50256
SEGMENT_BYTES = 256 * 1024
WINDOW = 5  # tokens shown either side of a difference


def hard_cases() -> dict[str, str]:
    cases = {
        "empty": "",
        "contractions-lower": "it's don't they're we've I'm you'll he'd. 's 't 're 've 'm 'll 'd",
        "contractions-upper": "IT'S DON'T THEY'RE WE'VE I'M YOU'LL HE'D 'S 'T 'RE 'VE 'M 'LL 'D",
        "contractions-mixed": "I'M they'Re We'Ve she'S can'T You'Ll he'D it'S'S 'Ll 'lL",
        "contractions-odd": "'s's'll ''s '''t x'sy O'Neil rock 'n' roll '90s ' s 'x 'ss 'lll 'dd 'ree",
        "contractions-curly": "it\u2019s don\u2019t they\u2019re \u2018quoted\u2019 \u201bodd\u2019 I\u2019M \u2019s",
        "apostrophe-end": "it'",
        "apostrophe-s-end": "the dog's",
        "numbers-separators": "1,000,000 1.000.000 1_000 1'000 12:30:59 3.14159 -42 +7 1e-10 0x1F 0b1010 "
                              "$1,234.56 50% 1st 2nd 3rd 4th 2024-05-20 10/10 1/2 v1.2.3 192.168.0.1",
        "numbers-leading-spaces": " 1  12   123    1234\t12345\n123456 \u00a01234567",
        "numbers-other-scripts": "\u0663\u0664\u0665 \u0967\u0968\u0969 \uff11\uff12\uff13 \u00bd \u00b2\u00b3 "
                                 "\u2167 \u216b \u2460\u2461 \U0001d7ce\U0001d7cf \u4e00\u4e8c\u4e09 7\u00b2",
        "number-200-digits": "".join(str(i % 10) for i in range(200)),
        "number-1000-digits": " " + "9" * 1000,
        "word-5000-letters": "a" * 5000,
        "cjk-3000-letters": "\u4e00\u6c34\u706b" * 1000,
        "spaces-5000": "x" + " " * 5000 + "y",
        "punctuation-3000": "!?." * 1000,
        "whitespace-space": " ",
        "whitespace-spaces": "     ",
        "whitespace-newline": "\n",
        "whitespace-newlines": "\n\n\n",
        "whitespace-mixed": " \t\n\r\n \t ",
        "whitespace-crlf": "\r\n\r\n",
        "leading-spaces": "   hello",
        "leading-newlines": "\n\nhello",
        "leading-tab": "\thello",
        "trailing-space": "hello ",
        "trailing-spaces": "hello   ",
        "trailing-newline": "hello\n",
        "trailing-newlines": "hello\n\n",
        "trailing-mixed": "hello \t\n \r\n ",
        "tabs": "a\tb\t\tc\t\t\td \te\t f \t g",
        "newlines": "a\nb\n\nc\n\n\nd \ne\n f \n g\n \n h",
        "crlf": "line one\r\nline two\r\n\r\nline four\r\n",
        "cr-only": "old\rmac\r\rline",
        "mixed-runs-before-words": "a \t b\t \tc \n d\n \n e  \r\n  f \u00a0 g \u3000 h",
        "accented-precomposed": "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m fa\u00e7ade \u0152uvre "
                                "\u00dcber Stra\u00dfe \u0141\u00f3d\u017a \u010ce\u0161tina se\u00f1or",
        "greek": "\u0397 \u03b3\u03c1\u03ae\u03b3\u03bf\u03c1\u03b7 \u03ba\u03b1\u03c6\u03ad "
                 "\u03b1\u03bb\u03b5\u03c0\u03bf\u03cd. \u039a\u0391\u039b\u0397\u039c\u0395\u03a1\u0391!",
        "cyrillic": "\u0421\u044a\u0435\u0448\u044c \u0436\u0435 \u0435\u0449\u0451 \u044d\u0442\u0438\u0445 "
                    "\u043c\u044f\u0433\u043a\u0438\u0445 "
                    "\u0444\u0440\u0430\u043d\u0446\u0443\u0437\u0441\u043a\u0438\u0445 "
                    "\u0431\u0443\u043b\u043e\u043a, \u0434\u0430 \u0432\u044b\u043f\u0435\u0439 \u0447\u0430\u044e.",
        "arabic": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c "
                  "\u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f "
                  "\u0671\u0644\u0652\u0639\u064e\u0631\u064e\u0628\u0650\u064a\u064e\u0651\u0629",
        "hebrew": "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd \u05e2\u05d5\u05b9\u05dc\u05b8\u05dd "
                  "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd!",
        "devanagari": "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e, "
                      "\u0915\u094d\u092f\u093e \u0939\u093e\u0932 \u0939\u0948? \u0915\u094d\u0937\u093f",
        "thai": "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01 "
                "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22"
                "\u0e07\u0e48\u0e32\u0e22\u0e19\u0e34\u0e14\u0e40\u0e14\u0e35\u0e22\u0e27",
        "cjk": "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002"
               "\U00020000\U0002a6d6 \u3400\u4db5",
        "hangul": "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4! \ud55c\uad6d\uc5b4",
        "hangul-decomposed": unicodedata.normalize("NFD", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4"),
        "japanese-kana": "\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\u3002\u30ab\u30bf\u30ab\u30ca "
                         "\uff76\uff80\uff76\uff85 \u30fc\u3005\u309d",
        "emoji-skin-tones": "\U0001f44d \U0001f44d\U0001f3fb \U0001f44d\U0001f3fc\U0001f44d\U0001f3fd"
                            "\U0001f44d\U0001f3fe \U0001f44d\U0001f3ff\U0001f3ff",
        "emoji-zwj-family": "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 "
                            "\U0001f469\u200d\U0001f469\u200d\U0001f466",
        "emoji-zwj-professions": "\U0001f469\u200d\u2695\ufe0f \U0001f468\U0001f3fd\u200d\U0001f4bb "
                                 "\U0001f9d1\U0001f3ff\u200d\U0001f692 \U0001f3f3\ufe0f\u200d\U0001f308",
        "emoji-flags": "\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5\U0001f1e9\U0001f1ea \U0001f1ec\U0001f1e7 "
                       "\U0001f1fa \U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
        "emoji-keycaps": "1\ufe0f\u20e3 #\ufe0f\u20e3 *\ufe0f\u20e3 0\u20e3 9\ufe0f\u20e3!",
        "variation-selectors": "\u263a\ufe0e \u263a\ufe0f \u2764\ufe0f \u2764\ufe0e \u845b\U000e0100 a\ufe0f 1\ufe0f",
        "combining-stacked": "e\u0301\u0302\u0303 a\u0308\u0304 \u0301start x\u0336\u0336 1\u0301 !\u0301",
        "combining-zalgo": "Z\u0334\u0321\u031b\u0316\u0353\u0344a\u0337\u0318\u0350l\u0338\u0330\u0308"
                           "g\u0335\u0323\u035do\u0336\u0329\u0346 t\u0489e\u0489x\u0489t",
        "combining-decomposed-accents": unicodedata.normalize("NFD", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5"),
        "punctuation-runs": "!!!???... -- --- ''' \"\"\" ?! ... \u2026 \u2014 \u2013 (a) [b] {c} a.b.c e.g.",
        "quotes": "\"Hi,\" she said. 'Hi!' "
                  "\u201cSmart\u201d \u2018quotes\u2019 \u00abguillemets\u00bb \u201ebaixo\u201c",
        "code-and-urls": "if (a && b || !c) { x += 1; } // C++ <html></html> `code` "
                         "https://example.com/path?q=1&r=2#frag user@example.com #tag @name ~~~ ^_^",
        "controls": "a\x00b\x01c\x7fd \x1b[31mred\x1b[0m \x08",
        "noncharacters-private-use": "\ufffe\uffff \ue000\uf8ff \U000ffffd \U0010fffd \U0010ffff x\U0010ffff",
        "unassigned": "\u0378 \U0003fffd a\U000e0fff b 1\U000d0000",
        "specials-replacement": "\ufffd \ufffc \ufffd\ufffd x\ufffdy",
        "endoftext-alone": "<|endoftext|>",
        "endoftext-start": "<|endoftext|>Once upon a time",
        "endoftext-middle": "The end.<|endoftext|>Once upon a time",
        "endoftext-end": "The end.<|endoftext|>",
        "endoftext-adjacent-words": "word<|endoftext|>word 1<|endoftext|>2 !<|endoftext|>?",
        "endoftext-spaces": " <|endoftext|> \n<|endoftext|>\n\t<|endoftext|>\t",
        "endoftext-repeated": "<|endoftext|><|endoftext|><|endoftext|>",
        "endoftext-partial": "<|endoftext| <|endoftext <|endoftext|>> <<|endoftext|> |endoftext|> "
                             "<|ENDOFTEXT|> <|endoftext|<|endoftext|> <|endof<|endoftext|>text|> <|fim_prefix|>",
        "endoftext-tinystories-layout": "One day.\n<|endoftext|>\nThe next day.\n<|endoftext|>\n",
    }
    cases["tinystories-paragraph"] = (
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. "
        "One day, she saw a big, red ball in the park. \"Mom, can I play with it?\" she asked.\n"
        "Her mom smiled and said, \"Yes, Lily, but don't go too far!\" Lily ran to the ball and kicked it "
        "high into the sky. It flew over the tree... and landed in Mr. Brown's garden!\n\n"
        "Mr. Brown wasn't angry. He laughed and said, \"That's a good kick, little one.\" "
        "They played together until 5 o'clock, and Lily learned that sharing is fun. The end."
    )
    # Every length of digit run from 1 to 40, alone on a line and after a space.
    cases["numbers-lengths"] = "\n".join("".join(str((n + k) % 10) for k in range(n)) for n in range(1, 41))
    cases["numbers-lengths-spaced"] = "".join(" " + "7" * n for n in range(1, 41))
    # Runs of 1 to 20 spaces before a word, and at the end of the text (where GPT-2's pattern
    # keeps the whole run, as no word follows).
    cases["spaces-before-words"] = "".join("w" + " " * n for n in range(1, 21)) + "w"
    for n in (1, 2, 3, 5, 20):
        cases[f"spaces-{n}-end"] = "end" + " " * n
    for name, white in (("tabs", "\t"), ("newlines", "\n"), ("crlf", "\r\n")):
        cases[f"{name}-before-words"] = "".join("w" + white * n for n in range(1, 8)) + "w"
        cases[f"{name}-end"] = "end" + white * 3
    # White space beyond ASCII (Unicode's White_Space, which Python's and Rust's \s follow;
    # U+001C..U+001F are not in it, though Python's str.isspace says they are) and characters that
    # look like white space but are not (zero-width, soft hyphen, and the Mongolian vowel
    # separator U+180E, white space before Unicode 6.3 and still in PCRE2's \s).
    odd = [0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
           *range(0x1C, 0x20), 0x0B, 0x0C, 0x200B, 0x200C, 0x200D, 0xFEFF, 0x2060, 0xAD, 0x180E]
    for cp in odd:
        c = chr(cp)
        cases[f"char-u+{cp:04x}"] = f"a{c}b {c}c{c}{c}d  {c}e{c} f\n{c}g {c}{c} h{c}1{c}!{c}'s{c}"
        cases[f"only-u+{cp:04x}"] = f"{c}{c} {c}"
    return cases


# tiktoken 0.12's Rust regex has Unicode 16's tables (measured: U+A7DA, new in 16, is a letter to
# it; CJK extension J, new in 17, is not).
TIKTOKEN_UNICODE = (16, 0, 0)

# Letters of Unicode 15 and 16, which a PCRE2 with older tables (Debian 12's 10.42 has Unicode 14)
# does not know and tiktoken does: U+A7DA (Latin, 16) and U+3199A (CJK extension H, 15) between
# CJK letters. Their last byte 9A and the next letter's first, E9, are a GPT-2 token, which only a
# pattern that puts all three in one piece produces. Also U+1E030 (Cyrillic modifier, 15), U+11F04
# (Kawi, 15), U+1C89 (Cyrillic TJE, 16) and the Kaktovik numerals U+1D2C0 (15, No).
NEWER_UNICODE_TEXT = ("\u7836\ua7da\u963a \u9651\U0003199a\u9651 a\U0001e030b \U00011f04\U00011f05 z\u1c89w "
                      "1\U0001d2c0\U0001d2c12 !\U00031350! \U0001d2c0")


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def random_code_point(rng: random.Random, leave_out_unassigned: bool) -> str:
    # Half from the BMP, where most scripts, marks and the odd white space live, half uniformly
    # over all 17 planes (mostly unassigned and private use: what the pattern calls "other").
    # leave_out_unassigned: PCRE2's tables are older than tiktoken's, so a code point they leave
    # unassigned may be a letter or number to tiktoken; such code points are drawn again, except
    # in planes 4 to 13, where no Unicode version up to tiktoken's assigns anything.
    while True:
        plane = 0 if rng.random() < 0.5 else rng.randrange(17)
        cp = plane << 16 | rng.randrange(0x10000)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if leave_out_unassigned and not 4 <= plane <= 13 and unicodedata.category(chr(cp)) == "Cn":
            continue
        return chr(cp)


def random_text(rng: random.Random, size: int, leave_out_unassigned: bool) -> str:
    """About `size` bytes of UTF-8: runs of words, digits, white space, punctuation, random code points."""
    parts, length = [], 0
    while length < size:
        kind = rng.random()
        if kind < 0.3:
            run = " " * rng.choice((0, 1, 1, 1, 2)) + "".join(rng.choices(string.ascii_letters, k=rng.randint(1, 10)))
            if rng.random() < 0.1:
                run += "'" + rng.choice(("s", "t", "re", "ve", "m", "ll", "d", "S", "T", "RE", "x"))
        elif kind < 0.4:
            run = " " * rng.choice((0, 1)) + "".join(rng.choices(string.digits, k=rng.randint(1, 12)))
        elif kind < 0.5:
            run = "".join(rng.choices(" \t\n\r\x0b\x0c\x85\xa0\u2003\u2028\u3000", k=rng.randint(1, 4)))
        elif kind < 0.6:
            run = "".join(rng.choices(string.punctuation, k=rng.randint(1, 4)))
        else:
            run = "".join(random_code_point(rng, leave_out_unassigned) for _ in range(rng.randint(1, 6)))
        parts.append(run)
        length += len(run.encode())
    return "".join(parts)


class Checker:
    def __init__(self, enc, tool: Path, vocab_dir: Path, workdir: Path):
        self.enc, self.tool, self.vocab_dir, self.workdir = enc, tool, vocab_dir, workdir

    def run(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.tool), *map(str, args)], capture_output=True)

    def token_bytes(self, token: int) -> bytes | str:
        try:
            return self.enc.decode_single_token_bytes(token)
        except KeyError:
            return f"<no such id {token}>"

    def encode_case(self, group: str, name: str, text: str) -> tuple[list[str], int]:
        """Problems with one case (none when it passes) and the number of tokens we gave."""
        special = group == "special"
        src = self.workdir / group / f"{name}.txt"
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(text.encode())
        ids_path = src.with_suffix(".ids")
        p = self.run("encode", *(["--allow-special"] if special else []), "--vocab-dir", self.vocab_dir, src, ids_path)
        if p.returncode != 0:
            return [f"{group}/{name}: encode exited {p.returncode}: {p.stderr.decode(errors='replace').strip()}"], 0
        ours = read_ids(ids_path)
        want = self.enc.encode(text, allowed_special="all") if special else self.enc.encode_ordinary(text)
        problems = [] if ours == want else [self.token_mismatch(f"{group}/{name}", text, ours, want)]
        return problems + self.decode_checks(f"{group}/{name}", ids_path, text.encode()), len(ours)

    def decode_checks(self, label: str, ids_path: Path, want: bytes) -> list[str]:
        problems = []
        for mode in ("decode", "decode-stream"):
            out = ids_path.with_suffix(f".{mode}")
            p = self.run(mode, "--vocab-dir", self.vocab_dir, ids_path, out)
            if p.returncode != 0:
                problems.append(f"{label}: {mode} exited {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
                continue
            got = out.read_bytes()
            if got != want:
                i = first_difference(got, want)
                problems.append(f"{label}: {mode} gives {len(got)} bytes for the {len(want)} of the text, first "
                                f"difference at byte {i}:\n  ours {got[max(0, i - 16):i + 16]!r}\n"
                                f"  text {want[max(0, i - 16):i + 16]!r}")
        return problems

    def token_mismatch(self, label: str, text: str, ours: list[int], want: list[int]) -> str:
        i = first_difference(ours, want)
        lo, hi = max(0, i - WINDOW), i + WINDOW + 1
        offset = sum(len(self.token_bytes(t)) for t in want[:i])  # where the two part, in bytes
        at = len(text.encode()[:offset].decode(errors="ignore"))  # and in characters
        lines = [f"{label}: MISMATCH: {len(ours)} tokens, tiktoken {len(want)}; first difference at token {i}, "
                 f"byte {offset}, character {at}",
                 f"  ours     ids[{lo}:{hi}] {ours[lo:hi]}",
                 f"  tiktoken ids[{lo}:{hi}] {want[lo:hi]}",
                 f"  ours     bytes {[self.token_bytes(t) for t in ours[lo:hi]]}",
                 f"  tiktoken bytes {[self.token_bytes(t) for t in want[lo:hi]]}",
                 "  characters around it (code point, Unicode 14 category, name):"]
        for k in range(max(0, at - 6), min(len(text), at + 7)):
            ch = text[k]
            lines.append(f"  {'>' if k == at else ' '} {k:8d} U+{ord(ch):04X} {unicodedata.category(ch)} "
                         f"{unicodedata.name(ch, '(no name)')} {ch!r}")
        if unicodedata.category(text[at]) == "Cn":
            lines.append(f"  hint: U+{ord(text[at]):04X} is unassigned in Unicode 14 (Debian 12's PCRE2 10.42); "
                         "tiktoken 0.12's Rust regex has Unicode 16, where it may be a letter or a number")
        return "\n".join(lines)

    def refusal(self, label: str, args: list, wanted: str, paths: list[Path]) -> str | None:
        """Why the tool's refusal is not as it should be (exit 2, one error line showing `wanted`), or None."""
        p = self.run(*args)
        lines = p.stderr.decode(errors="replace").splitlines()
        if p.returncode != 2 or len(lines) != 1 or not lines[0].startswith("error: "):
            return f"errors/{label}: want exit 2 and one 'error: ' line, got exit {p.returncode} and stderr {lines}"
        line = lines[0]
        for path in paths:  # digits in the paths must not pass for the number
            line = line.replace(str(path), "")
        if not re.search(rf"(?<![0-9A-Za-z]){re.escape(wanted)}(?![0-9A-Za-z])", line):
            return f"errors/{label}: the error line does not name {wanted}: {lines[0]}"
        return None


def read_ids(path: Path) -> list[int]:
    raw = path.read_bytes()
    return [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw) - len(raw) % 4, 4)] + (
        [-1] if len(raw) % 4 else [])  # a partial id at the end shows as -1


def write_ids(path: Path, ids: list[int]) -> None:
    path.write_bytes(b"".join(i.to_bytes(4, "little") for i in ids))


def first_difference(a, b) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def invalid_utf8_cases() -> dict[str, bytes]:
    cases = {
        "lone-continuation": b"abc\x80def",
        "continuation-first": b"\xbfabc",
        "continuations": b"ok \x80\x80\x80",
        "truncated-two-byte-end": b"caf\xc3",
        "truncated-two-byte-middle": b"caf\xc3 bar",
        "truncated-three-byte": "price: ".encode() + b"\xe2\x82 euros",
        "truncated-three-byte-end": b"\xe2\x82",
        "truncated-four-byte": b"smile \xf0\x9f\x98 please",
        "truncated-four-byte-end": b"smile \xf0\x9f\x98",
        "overlong-c-zero": b"a\xc0\x80b",
        "overlong-c-one": b"\xc1\xbf",
        "overlong-e-zero": b"ab\xe0\x80\x80",
        "overlong-f-zero": b"\xf0\x80\x80\x80",
        "surrogate-high": "na\u00efve ".encode() + b"\xed\xa0\x80",
        "surrogate-low": b"x\xed\xbf\xbf",
        "above-max": b"x\xf4\x90\x80\x80",
        "after-multibyte": "h\u00e9llo w\u00f6rld \U0001f600 \u4e16".encode() + b"\x80",
        "deep": ("Once upon a time \U0001f600 " * 5000).encode() + b"\xed\xa0\x80",
    }
    for byte in range(0xF5, 0x100):
        cases[f"byte-{byte:x}"] = b"ok " + bytes([byte]) + b" ok"
    return cases


def summary(line: str, problems: list[str], passed: str) -> list[str]:
    """Prints a group's problems and its summary line; returns the problems."""
    for problem in problems:
        print(problem)
    print(f"{line}: {f'{len(problems)} PROBLEMS' if problems else passed}")
    return problems


def check_newer_unicode(checker: Checker, older: bool) -> list[str]:
    """The one known difference: with older tables than tiktoken's, PCRE2 calls letters and numbers
    of later Unicode versions "other", and where GPT-2 has a merge across that piece boundary the
    tokens differ. Then they must differ here (and still decode back); with tables as new, agree."""
    problems, tokens = checker.encode_case("newer-unicode", "letters-of-unicode-15-16", NEWER_UNICODE_TEXT)
    if older:
        mismatch = [p for p in problems if "MISMATCH" in p]
        problems = [p for p in problems if "MISMATCH" not in p]
        if not mismatch:
            problems.append("newer-unicode: PCRE2's tables are older than tiktoken's, yet the tokens agree: "
                            "is TIKTOKEN_UNICODE or the case out of date?")
    want = ("differs from tiktoken, as PCRE2's Unicode is older; decodes back" if older
            else "identical to tiktoken; decode and decode-stream give the text back")
    return summary(f"newer-unicode: 1 case, {tokens} tokens", problems, want)


def check_split(checker: Checker) -> list[str]:
    """Texts decoded from one byte token per byte: the stream decoder must hold back what is incomplete."""
    texts = ["na\u00efve caf\u00e9", "\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1ef\U0001f1f5",
             "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "e\u0301\u0302 \U0010ffff\U00031350",
             "<|endoftext|>\U0001f600"]
    problems = []
    (checker.workdir / "split").mkdir(exist_ok=True)
    for k, text in enumerate(texts):
        ids_path = checker.workdir / "split" / f"split-{k}.ids"
        write_ids(ids_path, [checker.enc.encode_single_token(bytes([b])) for b in text.encode()])
        problems += checker.decode_checks(f"split/{k}", ids_path, text.encode())
    return summary(f"split: {len(texts)} texts as one token per byte", problems,
                   "decode and decode-stream give them back")


def check_refusals(checker: Checker) -> list[str]:
    bad_dir, vocab_dir = checker.workdir / "errors", checker.vocab_dir
    bad_dir.mkdir(exist_ok=True)
    out = bad_dir / "out"
    refusals = []
    invalid = invalid_utf8_cases()
    for name, data in invalid.items():
        try:
            data.decode("utf-8")
            raise AssertionError(f"{name} is valid UTF-8")
        except UnicodeDecodeError as e:
            offset = e.start
        src = bad_dir / f"{name}.txt"
        src.write_bytes(data)
        refusals.append(checker.refusal(f"{name} (offset {offset})", ["encode", "--vocab-dir", vocab_dir, src, out],
                                        str(offset), [src, out]))
    bad_ids = {"just-past": [15496, 50257], "max-uint16": [65535], "middle": [15496, 995, 100000, 11],
               "max-uint32": [2**32 - 1]}
    for name, ids in bad_ids.items():
        src = bad_dir / f"ids-{name}.ids"
        write_ids(src, ids)
        bad = next(i for i in ids if i >= checker.enc.n_vocab)
        for mode in ("decode", "decode-stream"):
            refusals.append(checker.refusal(f"{mode} {name}", [mode, "--vocab-dir", vocab_dir, src, out], str(bad),
                                            [src, out]))
    text, ids = bad_dir / "hello.txt", bad_dir / "hello.ids"
    text.write_text("hello")
    write_ids(ids, checker.enc.encode_ordinary("hello"))
    encoder = (vocab_dir / "encoder.json").read_bytes()
    for name, content in (("no-encoder", None), ("truncated-encoder", encoder[:len(encoder) // 2])):
        vocab = bad_dir / name
        vocab.mkdir(exist_ok=True)
        (vocab / "vocab.bpe").write_bytes((vocab_dir / "vocab.bpe").read_bytes())
        (vocab / "encoder.json").unlink(missing_ok=True)
        if content is not None:
            (vocab / "encoder.json").write_bytes(content)
        for mode, src in (("encode", text), ("decode", ids)):
            refusals.append(checker.refusal(f"{mode} with {name}", [mode, "--vocab-dir", vocab, src, out],
                                            "encoder.json", []))
    return summary(f"errors: {len(invalid)} invalid UTF-8 inputs, {len(bad_ids)} id files (decode and "
                   "decode-stream), 2 broken vocabularies", [r for r in refusals if r],
                   "each refused with exit 2 and one error line naming the offset, id or file")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", type=Path, required=True, help="the test program `tokenize`")
    ap.add_argument("--vocab-dir", type=Path, required=True, help="encoder.json and vocab.bpe")
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--random-mb", type=float, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    try:
        import tiktoken  # noqa: F401
    except ImportError as e:
        print(f"skipped: tiktoken is not importable ({e}); tests/run.sh installs it into build/venv")
        return 77
    sys.path.insert(0, str(Path(__file__).parent))
    from offline_tiktoken import gpt2_encoding

    vocab_dir, workdir = args.vocab_dir.resolve(), args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    checker = Checker(gpt2_encoding(vocab_dir), args.tool.resolve(), vocab_dir, workdir)

    info = subprocess.run([str(args.tool), "info"], capture_output=True, text=True, check=True).stdout
    pcre2_unicode = version(info.split()[1])
    older = pcre2_unicode < TIKTOKEN_UNICODE
    if older and version(unicodedata.unidata_version) != pcre2_unicode:
        print(f"skipped: PCRE2's Unicode is {info.split()[1]}, this Python's {unicodedata.unidata_version}: the random "
              "text needs Python's tables to match PCRE2's to leave out what tiktoken's newer Unicode assigns")
        return 77
    print(f"PCRE2's Unicode tables: {info.split()[1]}; tiktoken's: {'.'.join(map(str, TIKTOKEN_UNICODE))}"
          + ("; random text leaves out code points unassigned in PCRE2's (outside planes 4-13)" if older else ""))

    hard = hard_cases()
    rng = random.Random(args.seed)
    segments = max(1, round(args.random_mb * 2**20 / SEGMENT_BYTES))
    groups = {
        "hard": hard,
        "special": {name: text for name, text in hard.items() if "<|endoftext|>" in text},
        "random": {f"random-{k:03d}": random_text(rng, SEGMENT_BYTES, older) for k in range(segments)},
    }
    failures = []
    # One tool run per core at a time: each is mostly process start and vocabulary load.
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        for group, cases in groups.items():
            results = list(pool.map(lambda item: checker.encode_case(group, *item), cases.items()))
            size = sum(len(text.encode()) for text in cases.values())
            tokens = sum(n for _, n in results)
            seed = f" (seed {args.seed})" if group == "random" else ""
            failures += summary(f"{group}: {len(cases)} cases{seed}, {size:,} bytes, {tokens:,} tokens",
                                [p for problems, _ in results for p in problems],
                                "identical to tiktoken; decode and decode-stream give the text back")
    failures += check_newer_unicode(checker, older)
    failures += check_split(checker)
    failures += check_refusals(checker)
    if failures:
        print(f"FAILED: {len(failures)} problems (cases in {workdir})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
