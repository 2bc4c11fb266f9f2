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
# an edgelm component, so bin/, lib/ and lib/pkgconfig stay, empty or not.
list(REMOVE_DUPLICATES dirs)
list(SORT dirs ORDER DESCENDING)
foreach(dir ${dirs})
  while(dir MATCHES "/edgelm(/|$)")
    file(GLOB left "${destdir}${dir}/*" "${destdir}${dir}/.*")
    if(left OR NOT IS_DIRECTORY "${destdir}${dir}")
      break()
    endif()
    message(STATUS "Removing: ${destdir}${dir}/")
    file(REMOVE_RECURSE "${destdir}${dir}")
    get_filename_component(dir "${dir}" DIRECTORY)
  endwhile()
endforeach()
