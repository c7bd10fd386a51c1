# cmake/install.cmake — `cmake --install`: the nasc binary, libnasc.so and libnasc.a, the public
# headers (umbrella <nasc/nasc.h>), nasc.pc, the CMake package (find_package(nasc)), the
# NAS-Bench-201 table under share/nasc, the man page, bash completion and the examples.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NASC_INSTALL_DATADIR_REL ${CMAKE_INSTALL_DATADIR}/nasc)
# Where the binary and the library look for the table (src/estimate/tabular.c): the data directory
# of this install prefix, then the one beside the library (a prefix given at install time).
file(RELATIVE_PATH NASC_LIBDIR_TO_DATADIR ${CMAKE_INSTALL_FULL_LIBDIR}
     ${CMAKE_INSTALL_FULL_DATADIR}/nasc)
set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/estimate/tabular.c APPEND PROPERTY COMPILE_DEFINITIONS
             NASC_INSTALL_DATADIR="${CMAKE_INSTALL_FULL_DATADIR}/nasc"
             NASC_LIBDIR_TO_DATADIR="${NASC_LIBDIR_TO_DATADIR}")

foreach(t nasc_static nasc_shared)
  target_include_directories(${t} INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
target_include_directories(nasc_shared INTERFACE $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>)
set_target_properties(nasc_shared PROPERTIES EXPORT_NAME nasc)
set_target_properties(nasc_static PROPERTIES EXPORT_NAME nasc_static)
if(TARGET nasc-cli)
  install(TARGETS nasc-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(TARGETS nasc_shared nasc_static EXPORT nascTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/nasc DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

# CMake package
set(NASC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/nasc)
install(EXPORT nascTargets NAMESPACE nasc:: DESTINATION ${NASC_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/nascConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/nascConfig.cmake
                              INSTALL_DESTINATION ${NASC_CMAKE_DIR}
                              PATH_VARS CMAKE_INSTALL_INCLUDEDIR NASC_INSTALL_DATADIR_REL)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/nascConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/nascConfig.cmake ${CMAKE_BINARY_DIR}/nascConfigVersion.cmake
        DESTINATION ${NASC_CMAKE_DIR})

# pkg-config (relocatable: the prefix is found from the .pc file's own directory)
file(RELATIVE_PATH NASC_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" NASC_PC_TO_PREFIX "${NASC_PC_TO_PREFIX}")
set(NASC_PC_LIBS_PRIVATE "-fopenmp -lpthread -lm")
set(NASC_PC_REQUIRES_MPI "")
if(NASC_HAVE_MPI)
  set(NASC_PC_REQUIRES_MPI " ompi-c")
endif()
if(NASC_HAVE_DNNL)
  string(APPEND NASC_PC_LIBS_PRIVATE " -ldnnl")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/nasc.pc.in ${CMAKE_BINARY_DIR}/nasc.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/nasc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# data, man page, completion, examples
install(FILES ${CMAKE_SOURCE_DIR}/data/nb201.csv DESTINATION ${NASC_INSTALL_DATADIR_REL})
configure_file(${CMAKE_SOURCE_DIR}/dist/nasc.1.in ${CMAKE_BINARY_DIR}/nasc.1 @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/nasc.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/dist/nasc.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME nasc)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The examples also build in the tree (with the project's warnings), so an API change that breaks
# them fails the build, not a user.
file(GLOB NASC_EXAMPLE_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/examples/*.c)
foreach(src ${NASC_EXAMPLE_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(example_${name} ${src})
  target_compile_options(example_${name} PRIVATE ${NASC_WARNINGS})
  target_link_libraries(example_${name} PRIVATE nasc_static)
endforeach()
