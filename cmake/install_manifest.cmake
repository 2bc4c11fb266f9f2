# Run by `cmake --install` after every other install rule: writes the list of installed files,
# itself included, to <prefix>/<ELM_MANIFEST_DIR>/install_manifest.txt, where `make uninstall`
# (cmake/uninstall.cmake) reads it. Paths are the final ones, without DESTDIR, so a staged
# install's manifest is right on the machine it lands on.
if(IS_ABSOLUTE "${ELM_MANIFEST_DIR}")
  set(manifest "${ELM_MANIFEST_DIR}/install_manifest.txt")
else()
  set(manifest "${CMAKE_INSTALL_PREFIX}/${ELM_MANIFEST_DIR}/install_manifest.txt")
endif()
set(destdir "$ENV{DESTDIR}")
set(lines "")
foreach(f ${CMAKE_INSTALL_MANIFEST_FILES} "${destdir}${manifest}")
  if(destdir)
    string(LENGTH "${destdir}" n)
    string(SUBSTRING "${f}" 0 ${n} head)
    if(head STREQUAL destdir)
      string(SUBSTRING "${f}" ${n} -1 f)
    endif()
  endif()
  string(APPEND lines "${f}\n")
endforeach()
message(STATUS "Installing: ${destdir}${manifest}")
file(WRITE "${destdir}${manifest}" "${lines}")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${destdir}${manifest}")
