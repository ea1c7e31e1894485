# packaging.cmake - what `cmake --install` adds besides the programs (man
# pages, docs, the package's copyright and changelog), and the Debian package
# `cpack -G DEB` makes of it all: vnetctl_<version>_amd64.deb.
# The package's build (tests/package/deb_test.sh, docs/packaging.md):
#   cmake -S . -B build-deb -DVNET_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
#         -DCMAKE_INSTALL_PREFIX=/usr -DSYSTEMD_UNIT_DIR=/lib/systemd/system \
#         -DUDEV_RULES_DIR=/lib/udev/rules.d
#   cmake --build build-deb -j2 && (cd build-deb && cpack -G DEB)
include(GNUInstallDirs)

# Debian wants man pages and changelogs compressed with gzip -9n (no name or
# time stamp in the header, so that the package builds reproducibly).
function(vnet_gzip source output)
  add_custom_command(OUTPUT ${output}
    COMMAND gzip -9n -c ${source} > ${output}
    DEPENDS ${source}
    VERBATIM)
endfunction()

set(gzipped)
foreach(page vnetd.8 vnetctl.8)
  vnet_gzip(${PROJECT_SOURCE_DIR}/man/${page} ${PROJECT_BINARY_DIR}/man/${page}.gz)
  list(APPEND gzipped ${PROJECT_BINARY_DIR}/man/${page}.gz)
  install(FILES ${PROJECT_BINARY_DIR}/man/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endforeach()
# A native package's changelog is changelog.gz (Debian policy 12.7).
vnet_gzip(${PROJECT_SOURCE_DIR}/packaging/changelog ${PROJECT_BINARY_DIR}/packaging/changelog.gz)
list(APPEND gzipped ${PROJECT_BINARY_DIR}/packaging/changelog.gz)
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/man ${PROJECT_BINARY_DIR}/packaging)
add_custom_target(vnet_gzipped_docs ALL DEPENDS ${gzipped})

install(FILES ${PROJECT_BINARY_DIR}/packaging/changelog.gz ${PROJECT_SOURCE_DIR}/packaging/copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        FILES_MATCHING PATTERN "*.md")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vnetctl)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "vnetctl developers <vnetctl@vnetctl.example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "host network controller for virtualization hosts")
# The body under the summary line; CPack indents it as control files want.
set(CPACK_PACKAGE_DESCRIPTION "vnetd is a daemon that speaks QMP on a UNIX socket and implements QEMU's net
schema: taps with multiqueue, vnet headers and vhost-net, bridges, hubs,
socket, l2tpv3, user, vde and vhost-user back ends, and vhost-vdpa devices.
It enforces each guest's receive filter and anti-spoofing in the kernel with
eBPF, and hands device file descriptors to VMMs that run without privileges.

vnetctl is its command line, in the style of iproute2, and a udev handler
that sets devices up as they appear.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_FILE_NAME "vnetctl_${PROJECT_VERSION}_amd64.deb")
# The libraries' package names and versions come from dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "iproute2")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
