# check_layering.cmake - run at every build (the layering_check target): no
# file under ctl/ includes a <linux/...> header. ctl/ reaches the kernel
# through kernel_ifaces/, where each UAPI header and constant has one home
# (../shared/STYLE.md: "nothing above kernel_ifaces/ sees an ioctl").
# Usage: cmake -DROOT=<source dir> -P check_layering.cmake
file(GLOB_RECURSE sources "${ROOT}/ctl/*.cpp" "${ROOT}/ctl/*.h")
set(offenders "")
foreach(source IN LISTS sources)
  file(STRINGS "${source}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*<linux/")
  foreach(line IN LISTS lines)
    file(RELATIVE_PATH relative "${ROOT}" "${source}")
    string(APPEND offenders "\n  ${relative}: ${line}")
  endforeach()
endforeach()
if(offenders)
  message(FATAL_ERROR "ctl/ must not include kernel UAPI headers (use kernel_ifaces/):${offenders}")
endif()
