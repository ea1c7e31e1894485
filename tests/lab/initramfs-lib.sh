# initramfs-lib.sh - what the boot images of the kernel lab (tests/lab/build-initramfs)
# and of the vm tier (tests/vm/build-guest) build alike. Sourced by bash; the caller
# defines die() (prints and exits 3) and sets root (the image's tree).
#
#   initramfs_check_tools                  busybox-static, cpio, xz, ldd, strip are there
#   initramfs_add_busybox                  $root/bin/busybox and $root/bin/sh
#   initramfs_add_modules MODDIR NAME...   NAMEs and what each depends on, in load order,
#                                          decompressed into $root/lib/modules/NAME.ko;
#                                          sets module_order (the load order)
#   initramfs_copy_libs PROGRAM            the libraries and loader ldd names, at those paths
#   initramfs_add_program PROGRAM DEST     PROGRAM stripped at $root/DEST, with its libraries
#   initramfs_pack OUT                     $root as a gzipped newc cpio at OUT

initramfs_check_tools() {
  local tool
  # What the images need from the host; scripts/install-deps installs them all.
  for tool in busybox:busybox-static cpio:cpio xz:xz-utils ldd:libc-bin strip:binutils; do
    command -v "${tool%%:*}" >/dev/null ||
      die "'${tool%%:*}' is missing: apt-get install ${tool#*:} (or run scripts/install-deps)"
  done
  ! ldd "$(command -v busybox)" >/dev/null 2>&1 ||
    die "$(command -v busybox) is not the static busybox: apt-get install busybox-static"
}

# /init links busybox's applets in the guest (busybox --install).
initramfs_add_busybox() {
  mkdir -p "$root/bin"
  cp "$(command -v busybox)" "$root/bin/busybox"
  ln -sf busybox "$root/bin/sh"
}

# Each module after what it depends on (the "depends=" of its .modinfo),
# decompressed: busybox insmod takes no .ko.xz.
initramfs_add_modules() {
  local moddir=$1 m f name
  shift
  declare -gA _initramfs_module_path=() _initramfs_module_added=()
  module_order=()
  while IFS= read -r f; do
    name=${f##*/}
    name=${name%.ko.xz}
    _initramfs_module_path[${name//-/_}]=$f
  done < <(find "$moddir/kernel" -name '*.ko.xz')
  mkdir -p "$root/lib/modules"
  for m in "$@"; do _initramfs_add_module "$m" "$moddir"; done
}

_initramfs_add_module() {
  local name=${1//-/_} moddir=$2 deps dep
  [ -n "${_initramfs_module_added[$name]:-}" ] && return
  [ -n "${_initramfs_module_path[$name]:-}" ] ||
    die "module $name is not in $moddir (built into the kernel? then drop it from the list)"
  _initramfs_module_added[$name]=1
  deps=$(xz -dc "${_initramfs_module_path[$name]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' ')
  for dep in $deps; do _initramfs_add_module "$dep" "$moddir"; done
  module_order+=("$name")
  xz -dc "${_initramfs_module_path[$name]}" >"$root/lib/modules/$name.ko"
}

# The loader searches /lib/x86_64-linux-gnu and friends: the paths ldd names.
initramfs_copy_libs() {
  local lib
  for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

initramfs_add_program() {
  mkdir -p "$root/$(dirname "$2")"
  strip -o "$root/$2" "$1"
  initramfs_copy_libs "$1"
}

initramfs_pack() {
  (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$1.tmp"
  mv "$1.tmp" "$1"
}
