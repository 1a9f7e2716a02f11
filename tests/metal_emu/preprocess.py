"""Turns a .metal file into a C++ translation unit for the emulator (see README.md).

Every line of the .metal file stays on its line and a `#line` directive names the .metal
file, so compiler errors and sanitizer reports point at the Metal source. Usage:
    python3 preprocess.py kernels.metal out.cpp
"""

import re
import sys
from pathlib import Path

COMPAT = Path(__file__).resolve().parent / "metal_compat.h"

# Attribute builtins: the three-component ones come from a u3 (any of uint, uint2, uint3 or
# their ushort forms), the others from a scalar.
VECTOR_BUILTINS = {
    "thread_position_in_grid", "threadgroup_position_in_grid", "thread_position_in_threadgroup",
    "threads_per_threadgroup", "threadgroups_per_grid", "threads_per_grid",
}
SCALAR_BUILTINS = {
    "thread_index_in_threadgroup", "thread_index_in_simdgroup", "simdgroup_index_in_threadgroup",
    "threads_per_simdgroup", "simdgroups_per_threadgroup",
}

KERNEL = re.compile(r"(?:\bkernel\b|\[\[\s*kernel\s*\]\])\s*void\s+(\w+)\s*(<[^(){};]*>)?\s*\(")
ATTRIBUTE = re.compile(r"\[\[(.*?)\]\]", re.S)
METAL_INCLUDE = re.compile(r"^[ \t]*#[ \t]*include[ \t]*<metal_\w+>[ \t]*$", re.M)
# `#include "name.h"`: a header of shared MSL next to the .metal file, inlined here as the
# build inlines it when it embeds the sources (Metal's runtime compiler resolves no such include).
LOCAL_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([\w.]+)"[ \t]*$', re.M)
# `threadgroup T name[N]...;` storage (not pointers, which have a `*` before the name).
THREADGROUP_DECL = re.compile(
    r"(?<![\w:])threadgroup\s+([A-Za-z_][\w:]*(?:\s*<[^;{}()]*?>)?)\s+([A-Za-z_]\w*)\s*"
    r"((?:\[[^\]]+\]\s*)*);")
HALF_LITERAL = re.compile(
    r"(?<![\w.])((?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)[hH](?!\w)")


class MetalError(Exception):
    """A construct the emulator cannot take, with file:line."""


def strip_comments(src, blank_strings=False):
    """Replaces comments (and string literals if asked) by spaces, keeping every newline."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i) or src.startswith("/*", i):
            line_comment = src[i + 1] == "/"
            end = src.find("\n" if line_comment else "*/", i + 2)
            end = n if end == -1 else end + (0 if line_comment else 2)
            out.append(re.sub(r"[^\n]", " ", src[i:end]))
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            lit = src[i:j + 1]
            out.append(c + " " * (len(lit) - 2) + c if blank_strings else lit)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def matching(text, pos):
    """Index of the bracket closing the one at text[pos]."""
    pairs = {"(": ")", "[": "]", "{": "}", "<": ">"}
    open_, close, depth = text[pos], pairs[text[pos]], 0
    for i in range(pos, len(text)):
        depth += (text[i] == open_) - (text[i] == close)
        if depth == 0:
            return i
    raise ValueError("unbalanced " + open_)


def split_params(text):
    """Splits a parameter list at commas outside (), [], <>."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += (c in "([<") - (c in ")]>")
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def constant_to_const(text):
    """Metal's read-only `constant` address space becomes C++ `const` (once per type)."""
    text = re.sub(r"\bconst\s+constant\b|\bconstant\s+const\b", "const", text)
    return re.sub(r"\bconstant\b", "const", text)


def slot(param, where):
    """The launcher slot a kernel parameter reads, from its [[attribute]]: a C++ initializer
    of tl_emu::Slot, and ("buffer" | "threadgroup", index) or None for builtins. The C++
    side takes the parameter's type from the kernel itself."""
    attrs = [a.strip() for a in ATTRIBUTE.findall(param)]
    if len(attrs) != 1:
        raise MetalError(f"{where}: kernel parameter `{param}` needs exactly one [[attribute]]")
    attr = attrs[0]
    index = re.fullmatch(r"(buffer|threadgroup)\s*\(\s*(\d+)\s*\)", attr)
    if index:
        kind, n = index.group(1), int(index.group(2))
        return f"{{tl_emu::Slot::{kind.capitalize()}, {n}, nullptr, nullptr}}", (kind, n)
    if attr in VECTOR_BUILTINS:
        return f"{{tl_emu::Slot::Vector, 0, &tl_emu::ThreadCtx::{attr}, nullptr}}", None
    if attr in SCALAR_BUILTINS:
        return f"{{tl_emu::Slot::Scalar, 0, nullptr, &tl_emu::ThreadCtx::{attr}}}", None
    raise MetalError(f"{where}: unsupported attribute [[{attr}]] on `{param}`")


def find_kernels(code, path):
    """(registered name, C++ callee, slots, line) of every kernel to launch: plain kernel
    definitions and explicit instantiations of kernel templates (which repeat the parameter
    attributes, as MLX's instantiations do)."""
    kernels = []
    for m in KERNEL.finditer(code):
        open_paren = m.end() - 1
        close = matching(code, open_paren)
        params = split_params(code[open_paren + 1:close])
        after = code[close + 1:].lstrip()[:1]
        stmt_start = max(code.rfind(ch, 0, m.start()) for ch in ";{}") + 1
        prefix = code[stmt_start:m.start()]
        host = re.search(r"host_name\s*\(\s*\"([^\"]+)\"\s*\)", prefix)
        line = line_of(code, m.start())
        where = f"{path}:{line}"
        if after == "{" and re.search(r"\btemplate\s*<", prefix):
            continue  # a kernel template: launched through its instantiations
        if after == ";" and not re.match(r"\s*template\b(?!\s*<)", prefix):
            continue  # a forward declaration
        if after == ";" and not host:
            raise MetalError(f"{where}: kernel instantiation without [[host_name(\"...\")]]")
        name = host.group(1) if host else m.group(1)
        callee = m.group(1) + (m.group(2) or "")
        kernels.append((name, callee, [slot(p, where) for p in params], line))
    return kernels


def rewrite_threadgroup_decls(code, first=0):
    """`threadgroup T x[N];` becomes a reference into the threadgroup's shared memory, the
    same for every thread of the group. Returns the new code and the number of sites (numbered
    from `first`)."""
    sites = []

    def repl(m):
        ctype, name, dims = m.group(1), m.group(2), re.sub(r"\s+", "", m.group(3))
        sites.append(name)
        newlines = "\n" * m.group(0).count("\n")  # keep later code on its line
        return (f"auto& {name} = tl_emu::threadgroup_var<{ctype}{dims}>({first + len(sites) - 1}, "
                f"__FILE__, __LINE__);{newlines}")

    return THREADGROUP_DECL.sub(repl, code), len(sites)


def rewrite(code, first_site=0):
    """The rewrites from Metal to C++ of comment-free code: returns it and its number of
    threadgroup storage sites (numbered from `first_site`)."""
    code = METAL_INCLUDE.sub("", code)
    code, nsites = rewrite_threadgroup_decls(code, first_site)
    code = ATTRIBUTE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), code)
    code = constant_to_const(code)
    return HALF_LITERAL.sub(lambda m: f"half({m.group(1)}f)", code), nsites


def local_includes(src, path):
    """The headers (Paths) that `src`, the text of `path`, includes as `#include "name"`:
    files next to it, one level (a header includes no other)."""
    found = []
    for m in LOCAL_INCLUDE.finditer(strip_comments(src)):
        header = Path(path).resolve().parent / m.group(1)
        if not header.is_file():
            raise MetalError(f"{path}:{line_of(src, m.start())}: no header {m.group(1)} next to it")
        found.append(header)
    return found


def inline_headers(code, src, path, first_site):
    """`code` (the rewritten text of `path`, line for line) with each local include replaced
    by the rewritten header under its own #line, then #line back to the .metal file. Returns
    the code and the headers' threadgroup storage sites."""
    abspath = str(Path(path).resolve())
    pieces, nsites, end = [], 0, 0
    for header, m in zip(local_includes(src, path), LOCAL_INCLUDE.finditer(code)):
        text = strip_comments(header.read_text())
        if KERNEL.search(text) or LOCAL_INCLUDE.search(text):
            raise MetalError(f"{header}:1: an included header holds no kernels and no includes")
        body, n = rewrite(text, first_site + nsites)
        nsites += n
        after = line_of(code, m.start()) + 1
        pieces += [code[end:m.start()], f'#line 1 "{header}"\n{body}\n#line {after} "{abspath}"']
        end = m.end()
    return "".join(pieces) + code[end:], nsites


def translate(src, path):
    code = strip_comments(src)
    macro = re.search(r"^[ \t]*#[ \t]*define\b.*\bkernel\b", code, re.M)
    if macro:  # kernels from macros would go unregistered: the parsing here is before cpp
        raise MetalError(f"{path}:{line_of(code, macro.start())}: kernels declared in macros "
                         "are not supported; write each instantiation out")
    kernels = find_kernels(code, path)
    if not kernels:
        raise MetalError(f"{path}:1: no kernel to launch")
    names = [k[0] for k in kernels]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise MetalError(f"{path}:1: kernel names registered twice: {sorted(dup)}")

    code, nsites = rewrite(code)
    code, header_sites = inline_headers(code, src, path, nsites)
    nsites += header_sites

    abspath = str(Path(path).resolve())
    out = [f'#include "{COMPAT}"', f'#line 1 "{abspath}"', code, ""]
    table = []
    for i, (name, callee, slots, line) in enumerate(kernels):
        used = [s[1] for s in slots if s[1]]
        nbuf = max([n + 1 for kind, n in used if kind == "buffer"], default=0)
        ntg = max([n + 1 for kind, n in used if kind == "threadgroup"], default=0)
        out.append(f'#line {line} "{abspath}"')
        out.append(f"static const tl_emu::Slot tl_emu_slots_{i}[] = "
                   f"{{{', '.join([s[0] for s in slots] + ['{}'])}}};")  # never empty
        out.append(f"static void tl_emu_wrap_{i}(const tl_emu::ThreadCtx& c, void* const* b) "
                   f"{{ tl_emu::invoke(&{callee}, c, b, tl_emu_slots_{i}); }}")
        table.append(f'    {{"{name}", tl_emu_wrap_{i}, {nbuf}, {ntg}}},')
    out += ["extern const tl_emu::KernelEntry tl_emu_kernel_table[] = {", *table, "};",
            f"extern const int tl_emu_kernel_count = {len(kernels)};",
            f"extern const int tl_emu_threadgroup_sites = {nsites};", ""]
    return "\n".join(out)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    try:
        text = translate(Path(argv[1]).read_text(), argv[1])
    except MetalError as e:
        sys.exit(str(e))
    Path(argv[2]).write_text(text)


if __name__ == "__main__":
    main(sys.argv)
