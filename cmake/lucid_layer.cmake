# lucid_layer(<target> [EXCLUDE <regex>] DEPS <targets...>)
# One static library per layer. Its sources are every .cc below the calling folder, globbed with
# CONFIGURE_DEPENDS so that adding a file needs no CMake edit; paths matching EXCLUDE (a regex on
# the path relative to the folder) are left out. Public headers live in <layer>/include/lucid/.
# A layer links only the layers below it (DEPS): that is how the dependency direction of
# DESIGN.md is enforced — a higher layer's headers are simply not on the include path.
function(lucid_layer target)
  cmake_parse_arguments(L "" "EXCLUDE" "DEPS" ${ARGN})
  file(GLOB_RECURSE all RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  set(srcs)
  foreach(s ${all})
    if(L_EXCLUDE AND s MATCHES "${L_EXCLUDE}")
      continue()
    endif()
    list(APPEND srcs ${CMAKE_CURRENT_SOURCE_DIR}/${s})
  endforeach()
  if(NOT srcs)  # a layer with no sources yet still has to be a valid archive
    file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${target}_empty.cc "// ${target} has no sources yet\n")
    set(srcs ${CMAKE_CURRENT_BINARY_DIR}/${target}_empty.cc)
  endif()
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(${target} PUBLIC ${L_DEPS} lucid_flags)
endfunction()
