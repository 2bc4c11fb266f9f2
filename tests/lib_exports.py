"""The shared library exports the public API, all of it and nothing else: the names libedgelm.so
defines in its dynamic symbol table (nm -D --defined-only) against the functions and objects the
headers under include/edgelm/ declare. Usage: lib_exports.py LIBEDGELM_SO INCLUDE_DIR.

Declarations are read with a regex over the headers after comments and preprocessor lines are
dropped (so macros are skipped, and so are static inline functions, which are not exported)."""
import pathlib
import re
import subprocess
import sys

COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
# A preprocessor line with its continuations.
DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
# A declared function: its name right before the opening parenthesis of its parameters (a
# pointer to function, "(*name)(", is followed by ")" and so is not one).
FUNCTION = re.compile(r"\b(elm_\w+)\s*\(")
# A declared object: extern, not extern "C".
OBJECT = re.compile(r"\bextern\s+(?!\")[^;(){}]*?\b(elm_\w+)\s*(?:\[[^\]]*\])?\s*;")
INLINE = re.compile(r"\binline\b[^;{]*?\b(elm_\w+)\s*\(")


def declared(include_dir):
    """{name: header} of every function and object the public headers declare."""
    names = {}
    for header in sorted(pathlib.Path(include_dir).glob("edgelm/*.h")):
        text = DIRECTIVE.sub("", COMMENT.sub(" ", header.read_text()))
        inline = set(INLINE.findall(text))
        for name in FUNCTION.findall(text) + OBJECT.findall(text):
            if name not in inline:
                names.setdefault(name, header.name)
    return names


def exported(lib):
    """Names lib defines in its dynamic symbol table, less the linker's own (_init, _fini...)."""
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    names = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "TtDdRrBbVvWWiu":
            names.add(fields[2].split("@")[0])
    return {n for n in names if n not in ("_init", "_fini")}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: lib_exports.py LIBEDGELM_SO INCLUDE_DIR")
    lib, include_dir = sys.argv[1:]
    decl = declared(include_dir)
    exp = exported(lib)
    extra = sorted(exp - decl.keys())
    missing = sorted(set(decl) - exp)
    for name in extra:
        print(f"FAIL: {lib} exports {name}, which no header under {include_dir}/edgelm declares")
    for name in missing:
        print(f"FAIL: {decl[name]} declares {name}, which {lib} does not export")
    print(f"{len(exp)} exported, {len(decl)} declared; {len(extra)} extra, {len(missing)} missing")
    sys.exit(1 if extra or missing else 0)


if __name__ == "__main__":
    main()
