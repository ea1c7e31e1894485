/* The sanitizers' options of every binary of a VNET_SANITIZE build (vnetd,
 * vnetctl, unit_tests), compiled in rather than taken from the environment so
 * that a run by hand, by ctest, by udev or by systemd (which start programs in
 * environments of their own) behaves the same. ASAN_OPTIONS, UBSAN_OPTIONS and
 * LSAN_OPTIONS still apply on top: the test harnesses add log_path there
 * (docs/testing.md, "Sanitizers"). The runtimes look these functions up by
 * name (compiler-rt: sanitizer/asan_interface.h, lsan_interface.h,
 * ubsan_interface.h). */

#ifndef VNET_LSAN_SUPPRESSIONS
#error "VNET_LSAN_SUPPRESSIONS (the path of tests/sanitizer/lsan.supp) is not defined"
#endif

#define VNET_SANITIZER_HOOK __attribute__((visibility("default"), used))

/* Stop at the first report, with an exit status rather than a core dump
 * (abort_on_error=0), and look for leaks at exit. */
VNET_SANITIZER_HOOK const char *__asan_default_options(void) {
  return "halt_on_error=1:abort_on_error=0:detect_leaks=1";
}

/* -fno-sanitize-recover=all already makes every UBSan check fatal; the stack
 * says which caller got there. */
VNET_SANITIZER_HOOK const char *__ubsan_default_options(void) {
  return "halt_on_error=1:abort_on_error=0:print_stacktrace=1";
}

/* Leaks of third-party libraries only, each entry saying why. */
VNET_SANITIZER_HOOK const char *__lsan_default_options(void) {
  return "suppressions=" VNET_LSAN_SUPPRESSIONS;
}
