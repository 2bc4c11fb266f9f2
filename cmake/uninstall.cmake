# `make uninstall PREFIX=P [DESTDIR=D]`: cmake -DPREFIX=P -P cmake/uninstall.cmake. Removes
# exactly the files listed in the manifest that `cmake --install` left in the prefix
# (cmake/install_manifest.cmake; MANIFEST=FILE names another), the manifest among them, then the
# edgelm directories the removal left empty (include/edgelm, lib/cmake/edgelm, share/edgelm,
# share/doc/edgelm), and nothing else.
if(NOT PREFIX)
  message(FATAL_ERROR "uninstall: give the install prefix (-DPREFIX=/usr/local)")
endif()
set(destdir "$ENV{DESTDIR}")
if(NOT MANIFEST)
  set(MANIFEST "${destdir}${PREFIX}/share/edgelm/install_manifest.txt")
endif()
if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "uninstall: no edgelm install manifest at ${MANIFEST} (is edgelm installed "
                      "in ${PREFIX}? give the prefix it was installed with)")
endif()
file(STRINGS "${MANIFEST}" files)
set(dirs "")
foreach(f ${files})
  if(EXISTS "${destdir}${f}" OR IS_SYMLINK "${destdir}${f}")
    message(STATUS "Removing: ${destdir}${f}")
    file(REMOVE "${destdir}${f}")
  endif()
  get_filename_component(dir "${f}" DIRECTORY)
  list(APPEND dirs "${dir}")
endforeach()
# Deepest first, so share/doc/edgelm/examples goes before share/doc/edgelm; only directories with
# an edgelm component below the prefix, so bin/, lib/, lib/pkgconfig and the prefix itself stay,
# empty or not, even when the prefix is /opt/edgelm.
list(REMOVE_DUPLICATES dirs)
list(SORT dirs ORDER DESCENDING)
string(REGEX REPLACE "/+$" "" prefix "${PREFIX}")
string(LENGTH "${prefix}/" n)
foreach(dir ${dirs})
  string(FIND "${dir}/" "${prefix}/" at)
  if(NOT at EQUAL 0 OR dir STREQUAL prefix)
    continue()
  endif()
  string(SUBSTRING "${dir}" ${n} -1 below) # "share/doc/edgelm/examples"
  while(below MATCHES "(^|/)edgelm(/|$)")
    file(GLOB left "${destdir}${prefix}/${below}/*" "${destdir}${prefix}/${below}/.*")
    if(left OR NOT IS_DIRECTORY "${destdir}${prefix}/${below}")
      break()
    endif()
    message(STATUS "Removing: ${destdir}${prefix}/${below}/")
    file(REMOVE_RECURSE "${destdir}${prefix}/${below}")
    get_filename_component(below "${below}" DIRECTORY)
  endwhile()
endforeach()
