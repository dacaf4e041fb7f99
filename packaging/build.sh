#!/usr/bin/env bash
# Builds every installer into target/dist/ (names carry the version):
#   outpost_<version>_amd64.deb         the workstation program, for Debian and Ubuntu
#   outpost-server_<version>_amd64.deb  the district server as a systemd service
#   outpost-<version>-x64.msi           the workstation program (and the server) for Windows
# then checks the Debian packages with lintian (packaging/lintian-overrides.txt says why each
# remaining tag stays) and lists what the MSI holds.
#
# Needs: cargo-deb (`cargo install cargo-deb`), lintian, cmake and g++ (CharLS, for JPEG-LS),
# the x86_64-pc-windows-gnu Rust target, Debian's mingw-w64 and msitools (wixl).
# `packaging/build.sh --install-tools` installs them first (apt and cargo; root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
dist="$repo/target/dist"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
windows=x86_64-pc-windows-gnu

if [ "${1:-}" = "--install-tools" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    lintian cmake g++ mingw-w64 msitools wixl >/dev/null
  rustup target add "$windows" >/dev/null
  command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --quiet
fi

mkdir -p "$dist"

echo "== Debian: the workstation (outpost $version)"
cargo deb --locked --profile dist --output "$dist/outpost_${version}_amd64.deb"

echo "== Debian: the server (outpost-server $version)"
cargo deb --locked --profile dist --variant server \
  --output "$dist/outpost-server_${version}_amd64.deb"

echo "== Windows: both programs, cross-compiled"
# The JPEG-LS decoder (CharLS, C++ built by cmake) is left out of the Windows build: it would
# need a cmake cross toolchain; the other codecs are Rust or C that the mingw compiler builds.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
cargo build --locked --profile dist --target "$windows" --bins
# wixl takes its sources by relative path only: stage the programs inside the clone.
staging="target/windows-staging"
rm -rf "$staging"
mkdir -p "$staging"
cp "$target_dir/$windows/dist/outpost.exe" "$target_dir/$windows/dist/outpost-server.exe" "$staging/"

echo "== Windows: the MSI"
msi="$dist/outpost-${version}-x64.msi"
wixl --arch x64 \
  -D "Version=$version" -D "BinDir=$staging" -D "SourceDir=." \
  -o "$msi" packaging/windows/outpost.wxs

echo "== lintian"
for deb in "$dist/outpost_${version}_amd64.deb" "$dist/outpost-server_${version}_amd64.deb"; do
  # Errors fail the build; warnings are printed. Tags we keep are explained in the overrides.
  lintian --fail-on error --suppress-tags-from-file packaging/lintian-overrides.txt "$deb"
done

echo "== the MSI's files"
msiinfo export "$msi" File | cut -f 3,4 | sed -n '4,$p'

ls -l "$dist"
