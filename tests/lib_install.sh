# edgelm installed into a temporary prefix as a user would: the layout, the SONAME, the version
# everywhere the same, examples/generate.c built with pkg-config alone (shared and static) and
# with CMake's find_package, each run on stories260K and giving `edgelm run`'s greedy text and a
# timing line; then a staged (DESTDIR) install, and `make uninstall` leaving nothing behind.
# Usage: lib_install.sh EDGELM BUILD_DIR SOURCE_DIR CC [SANITIZER_FLAGS]; with sanitizer flags
# (an ELM_SANITIZE build, whose libraries need their runtime) the example is built with them too.
. "$(dirname "$0")/testlib.sh"
BUILD=${2:?usage: $0 EDGELM BUILD_DIR SOURCE_DIR CC [SANITIZER_FLAGS]}
SRC=${3:?usage: $0 EDGELM BUILD_DIR SOURCE_DIR CC [SANITIZER_FLAGS]}
CC=${4:?usage: $0 EDGELM BUILD_DIR SOURCE_DIR CC [SANITIZER_FLAGS]}
SAN=${5:-}
P=$TMP/prefix
EXAMPLE=$SRC/examples/generate.c
# The nested make must not join the jobserver of a `make test` that runs this test.
MAKE_CLEAN=(env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -C "$SRC")

run cmake --install "$BUILD" --prefix "$P"
expect_rc 0 "cmake --install into a temporary prefix"
missing=""
for f in bin/edgelm lib/libedgelm.a lib/libedgelm.so lib/libedgelm.so.0 include/edgelm/base.h \
         include/edgelm/engine.h include/edgelm/tokenizer.h lib/pkgconfig/edgelm.pc \
         lib/cmake/edgelm/edgelmConfig.cmake lib/cmake/edgelm/edgelmConfigVersion.cmake \
         lib/cmake/edgelm/edgelmTargets.cmake share/edgelm/prices.json share/edgelm/cluster.json \
         share/edgelm/gateway.json share/doc/edgelm/README.md share/edgelm/install_manifest.txt; do
  [ -e "$P/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && ok "the layout" || bad "not installed:$missing"
n_headers=$(ls "$SRC"/include/edgelm/*.h | wc -l)
[ "$(ls "$P"/include/edgelm/*.h | wc -l)" = "$n_headers" ] && ok "all $n_headers public headers" \
  || bad "headers: $(ls "$P"/include/edgelm | tr '\n' ' ')"
cmp -s "$P/share/edgelm/prices.json" "$SRC/data/prices.json" \
  && cmp -s "$P/share/edgelm/cluster.json" "$SRC/examples/cluster.json" \
  && ok "share/edgelm holds the source tree's price table and cluster" || bad "share/edgelm differs"

export PKG_CONFIG_PATH=$P/lib/pkgconfig
version=$(pkg-config --modversion edgelm)
major=${version%%.*}
run "$P/bin/edgelm" --version
[ "$(cat "$TMP/out")" = "edgelm $version" ] && ok "edgelm --version and edgelm.pc say $version" \
  || bad "edgelm --version says '$(cat "$TMP/out")', edgelm.pc '$version'"
soname=$(readelf -d "$P/lib/libedgelm.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libedgelm.so.$major" ] && [ -f "$P/lib/libedgelm.so.$version" ] \
  && ok "SONAME $soname, file libedgelm.so.$version" || bad "SONAME '$soname' for version $version"
grep -qx "#define EDGELM_VERSION_MAJOR $major" "$P/include/edgelm/base.h" \
  && ok "base.h's EDGELM_VERSION_MAJOR is $major" || bad "base.h's version macros differ from $version"

# (a) shared, with pkg-config alone: the compile line of the comment atop generate.c.
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic $SAN)
run "$CC" "${CFLAGS[@]}" "$EXAMPLE" $(pkg-config --cflags --libs edgelm) -Wl,-rpath,"$P/lib" \
    -o "$TMP/gen-shared"
expect_rc 0 "generate.c built with pkg-config --cflags --libs edgelm"
readelf -d "$TMP/gen-shared" 2>/dev/null | grep -q 'NEEDED.*\[libedgelm\.so\.'"$major"'\]' \
  && ok "it needs libedgelm.so.$major" || bad "gen-shared does not need libedgelm.so.$major"
# (b) static: pkg-config --static names the libraries libedgelm.a needs; -l:libedgelm.a picks
# the archive where the .so sits beside it. Whole, so that every member is linked and a library
# missing from edgelm.pc fails here, not only one the example happens to reach.
static_libs=$(pkg-config --static --libs edgelm |
              sed 's/-ledgelm\b/-Wl,--whole-archive -l:libedgelm.a -Wl,--no-whole-archive/')
run "$CC" "${CFLAGS[@]}" "$EXAMPLE" $(pkg-config --cflags edgelm) $static_libs -o "$TMP/gen-static"
expect_rc 0 "generate.c built with pkg-config --static against libedgelm.a"
readelf -d "$TMP/gen-static" 2>/dev/null | grep -q 'NEEDED.*libedgelm' \
  && bad "gen-static needs libedgelm.so" || ok "gen-static needs no libedgelm.so"
# (c) CMake's package, from examples/CMakeLists.txt.
run cmake -S "$SRC/examples" -B "$TMP/ex" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="$SAN" -DCMAKE_EXE_LINKER_FLAGS="$SAN"
expect_rc 0 "examples/CMakeLists.txt configures with find_package(edgelm)"
run cmake --build "$TMP/ex"
expect_rc 0 "and builds generate against edgelm::edgelm"

if m=$(need_data models/stories260K-f32.gguf); then
  prompt="Once upon a time"
  n=40
  run "$P/bin/edgelm" run -m "$m" -p "$prompt" --temp 0 -n $n
  expect_rc 0 "the installed edgelm runs"
  cp "$TMP/out" "$TMP/want"
  [ "$(wc -c <"$TMP/want")" -gt 40 ] && ok "edgelm run's greedy text: $(head -c 60 "$TMP/want")..." \
    || bad "edgelm run printed too little: '$(cat "$TMP/want")'"
  timing="^load [0-9.]+ ms \| prompt [0-9]+ tokens, [0-9.]+ tok/s \| generated $n tokens, [0-9.]+ tok/s \| TTFT [0-9.]+ ms$"
  for gen in "$TMP/gen-shared" "$TMP/gen-static" "$TMP/ex/generate"; do
    run "$gen" "$m" "$prompt" $n
    expect_rc 0 "${gen#"$TMP"/} runs"
    cmp -s "$TMP/out" "$TMP/want" && ok "${gen#"$TMP"/} prints edgelm run's text" \
      || { bad "${gen#"$TMP"/}'s text differs"; diff "$TMP/want" "$TMP/out" | head -5; }
    expect_err "$timing" "${gen#"$TMP"/} prints the timing line"
  done
  run "$TMP/gen-shared" "$TMP/nope.gguf"
  expect_rc 1 "generate on a missing model"
  expect_err "^generate: .*nope\.gguf" "says which file, through elm_diag_t"
elif [ "${EDGELM_REQUIRE_DATA:-0}" = 1 ]; then
  bad "stories260K is required (EDGELM_REQUIRE_DATA=1): the examples were not run"
fi

# A staged install (DESTDIR) records the final paths, and uninstall takes the same DESTDIR.
DESTDIR=$TMP/stage cmake --install "$BUILD" --prefix /opt/edgelm >/dev/null 2>&1
[ "$(head -1 "$TMP/stage/opt/edgelm/share/edgelm/install_manifest.txt" 2>/dev/null)" = /opt/edgelm/bin/edgelm ] \
  && ok "a DESTDIR install's manifest lists the final paths" || bad "DESTDIR manifest is wrong"
run "${MAKE_CLEAN[@]}" uninstall PREFIX=/opt/edgelm DESTDIR="$TMP/stage"
expect_rc 0 "make uninstall with DESTDIR"
[ -z "$(find "$TMP/stage" -type f -o -type l)" ] && ok "the staged tree has no file left" \
  || bad "left in the stage: $(find "$TMP/stage" -type f -o -type l | head -5)"
# Only edgelm's own directories below the prefix go, though this prefix is named edgelm.
[ -d "$TMP/stage/opt/edgelm/bin" ] && [ -d "$TMP/stage/opt/edgelm/lib/pkgconfig" ] \
  && ok "the prefix's bin/ and lib/pkgconfig/ stay" || bad "uninstall removed the prefix's own directories"

# Uninstall from the manifest in the prefix: every file goes, and the edgelm directories.
run "${MAKE_CLEAN[@]}" uninstall PREFIX="$P"
expect_rc 0 "make uninstall PREFIX=$P"
left=$(find "$P" -type f -o -type l -o -name '*edgelm*')
[ -z "$left" ] && ok "nothing of edgelm is left in the prefix" || bad "left behind: $left"
run "${MAKE_CLEAN[@]}" uninstall PREFIX="$P"
[ "$rc" != 0 ] && grep -q "no edgelm install manifest" "$TMP/err" \
  && ok "a second uninstall says there is no manifest" || bad "second uninstall: exit $rc"
finish
