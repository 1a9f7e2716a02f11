"""Rejects in .metal sources what g++ accepts but Metal's compiler does not, so that passing
the emulator means something. Usage: python3 lint.py FILE.metal... (exit status 1 on
findings, printed as file:line: message); the local headers the files include are linted too.

Recursion is found through a call graph of the functions defined in the file, by name (so
overloads of one name count as one function).
"""

import re
import sys
from pathlib import Path

from preprocess import line_of, matching, strip_comments

RULES = [
    (re.compile(r"\bdouble\b"), "Metal has no double (or long double)"),
    (re.compile(r"\bnew\b|(?<!=)(?<!= )\bdelete\b"), "Metal has no new/delete"),
    (re.compile(r"\b(throw|try|catch)\b"), "Metal has no exceptions"),
    (re.compile(r"\bvirtual\b"), "Metal has no virtual functions"),
    (re.compile(r"\bstd\s*::"), "Metal has no C++ standard library (std::)"),
    (re.compile(r"\bgoto\b"), "Metal has no goto"),
    (re.compile(r"\b(dynamic_cast|typeid|thread_local|asm)\b"), "not available in Metal"),
    (re.compile(r"\(\s*\*\s*\w+\s*\)\s*\("), "Metal has no function pointers"),
    (re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+|\d+[eE][+-]?\d+)(?:[eE][+-]?\d+)?(?![\w.])"),
     "floating literal without f or h suffix (C++ reads it as double)"),
]
INCLUDE = re.compile(r"^[ \t]*#[ \t]*include\b(.*)$", re.M)
ALLOWED_INCLUDE = re.compile(r"\s*<metal_\w+>\s*$")
# A header of shared MSL next to the file ("name.h", a file of its own there): the build
# inlines it into each source that includes it (see preprocess.LOCAL_INCLUDE).
LOCAL_HEADER = re.compile(r'\s*"(\w+\.h)"\s*$')
# A function definition: name, optional template arguments, parameters, then a body.
DEFINITION = re.compile(r"\b([A-Za-z_]\w*)\s*(?:<[^;{}()]*>)?\s*\(")
CALL = re.compile(r"\b([A-Za-z_]\w*)\s*(?:<[^;{}()]*>)?\s*\(")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "alignof", "static_assert",
            "decltype", "catch"}


def functions(code):
    """{name: [(body start, body end)]} of the function definitions in `code`."""
    found = {}
    for m in DEFINITION.finditer(code):
        if m.group(1) in KEYWORDS:
            continue
        close = matching(code, m.end() - 1)
        rest = re.match(r"\s*(?:const\s*)?(?:thread\s*)?\{", code[close + 1:])
        if rest:
            start = close + 1 + rest.end()  # just past the {
            found.setdefault(m.group(1), []).append((start, matching(code, start - 1)))
    return found


def recursion(code):
    """(position, message) of each call that closes a cycle in the call graph."""
    defs = functions(code)
    calls = {}  # name -> [(callee, position)]
    for name, bodies in defs.items():
        for start, end in bodies:
            for m in CALL.finditer(code, start, end):
                if m.group(1) in defs:
                    calls.setdefault(name, []).append((m.group(1), m.start()))

    def reaches(src, dst, seen):
        for callee, _ in calls.get(src, []):
            if callee == dst or (callee not in seen and reaches(callee, dst, seen | {callee})):
                return True
        return False

    return [(pos, f"recursion: {name} calls itself" if callee == name else
             f"recursion: {name} calls {callee}, which leads back to {name}")
            for name, edges in calls.items() for callee, pos in edges
            if callee == name or reaches(callee, name, {callee})]


def lint_source(src, path):
    """['file:line: message', ...] for one .metal source."""
    code = strip_comments(src, blank_strings=True)
    found = []
    for m in INCLUDE.finditer(strip_comments(src)):
        local = LOCAL_HEADER.match(m.group(1))
        if local and not (Path(path).parent / local.group(1)).is_file():
            found.append((m.start(), f"no header {local.group(1)} next to this file"))
        elif not local and not ALLOWED_INCLUDE.match(m.group(1)):
            found.append((m.start(), 'only <metal_...> headers and "name.h" next to the file '
                                     "can be included"))
    no_directives = re.sub(r"^[ \t]*#.*$", lambda m: " " * len(m.group(0)), code, flags=re.M)
    for rule, message in RULES:
        found += [(m.start(), message) for m in rule.finditer(no_directives)]
    found += recursion(no_directives)
    return [f"{path}:{line_of(code, pos)}: {msg}" for pos, msg in sorted(found)]


def with_headers(paths):
    """`paths` and the local headers they include, each once."""
    out = []
    for path in paths:
        found = [path]
        for m in INCLUDE.finditer(strip_comments(Path(path).read_text())):
            local = LOCAL_HEADER.match(m.group(1))
            if local and (Path(path).parent / local.group(1)).is_file():
                found.append(str(Path(path).parent / local.group(1)))
        out += [p for p in found if p not in out]
    return out


def main(paths):
    """Lints `paths` and the headers they include."""
    paths = with_headers(paths)
    problems = [p for path in paths for p in lint_source(Path(path).read_text(), path)]
    print("\n".join(problems) or f"{len(paths)} file(s) clean")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
