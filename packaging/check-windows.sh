#!/usr/bin/env bash
# Checks the Windows installer that packaging/build.sh made: what the MSI holds (msitools), and
# the programs it installs, run under Wine: `outpost.exe --version`, a demo data folder, `status`,
# and `outpost-server.exe` serving a Linux workstation that enrolls and syncs with it.
#
# Usage: packaging/check-windows.sh LINUX_OUTPOST   (the Linux `outpost` binary to sync with)
# Needs: msitools, wine64 (Debian's packages).
set -euo pipefail
cd "$(dirname "$0")/.."
linux_outpost="$1"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
msi="target/dist/outpost-${version}-x64.msi"
repo_msi="$(pwd)/$msi"
upgrade_code="7BB36CB7-DBEF-4E25-83F2-BCCF910CC98E"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  WINEPREFIX="$work/wine" wineserver -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "check-windows: $*" >&2
  exit 1
}

echo "== the MSI's tables"
msiinfo suminfo "$msi"
# Each table is read whole before it is searched: `grep -q` stops at the first match, and under
# pipefail the writer's SIGPIPE would fail the check at random.
table() { msiinfo export "$msi" "$1"; }
has() { grep -Eq "$2" <<<"$(table "$1")"; }
has Property "UpgradeCode.*\\{$upgrade_code\\}" || fail "the UpgradeCode is not the fixed one"
has Upgrade "\\{$upgrade_code\\}" || fail "no Upgrade row: a newer MSI would not replace an older one"
has Shortcut "Outpost" || fail "no Start menu shortcut"
has Icon "outpost\\.ico" || fail "no icon"
has Directory "^INSTALLDIR[[:space:]]+ProgramFiles64Folder[[:space:]]+Outpost" ||
  fail "not installed under Program Files\\Outpost"

echo "== the MSI's files"
msiextract -C "$work/extracted" "$msi" >/dev/null
find "$work/extracted" -type f | sed "s|$work/extracted/||" | sort
outpost_exe="$(find "$work/extracted" -name outpost.exe | head -1)"
server_exe="$(find "$work/extracted" -name outpost-server.exe | head -1)"
[ -n "$outpost_exe" ] && [ -n "$server_exe" ] || fail "a program is missing"
case "$outpost_exe" in
  */Outpost/outpost.exe) ;;
  *) fail "outpost.exe is not in the Outpost folder: $outpost_exe" ;;
esac

echo "== under Wine"
export WINEPREFIX="$work/wine" WINEARCH=win64 WINEDEBUG=-all
wine="$(command -v wine64 || echo /usr/lib/wine/wine64)"
"$wine" wineboot --init >/dev/null 2>&1 || true
# Wine 8.0 lacks bcryptprimitives.dll, which Rust's standard library imports (every Windows from
# 10 on has it): a stand-in for this check only, never shipped.
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  packaging/windows/wine-bcryptprimitives.c packaging/windows/wine-bcryptprimitives.def -lbcrypt
winpath() { printf 'Z:%s' "$(echo "$1" | tr / '\\')"; }

"$wine" "$outpost_exe" --version | tee "$work/version.txt"
grep -q "outpost $version" "$work/version.txt" || fail "outpost.exe --version"

data="$work/clinic"
"$wine" "$outpost_exe" demo --patients 50 --data-dir "$(winpath "$data")"
"$wine" "$outpost_exe" status --data-dir "$(winpath "$data")" | tee "$work/status.txt"
grep -Eq "^patients: +50" "$work/status.txt" || fail "status does not count the demo's 50 patients"

echo "== outpost-server.exe serving a Linux workstation"
server_data="$(winpath "$work/server")"
"$wine" "$server_exe" clinic add "Hill Clinic" --data-dir "$server_data" | tee "$work/clinic.txt"
code="$(sed -n 's/^Enrollment code: *//p' "$work/clinic.txt" | tr -d '\r')"
[ -n "$code" ] || fail "no enrollment code"
mkfifo "$work/server.out"
"$wine" "$server_exe" serve --listen 127.0.0.1:0 --data-dir "$server_data" >"$work/server.out" &
server_pid=$!
exec 3<"$work/server.out"
read -r line <&3
address="$(echo "$line" | tr -d '\r' | sed -n 's/^outpost-server listening on \([^ ]*\).*/\1/p')"
[ -n "$address" ] || fail "the server did not say where it listens: $line"

workstation="$work/linux-workstation"
"$linux_outpost" demo --patients 3 --visits 1 --data-dir "$workstation" >/dev/null
printf 'demo-admin-passphrase\n' >"$work/admin.txt"
"$linux_outpost" sync --data-dir "$workstation" --server "http://$address" --enroll "$code" \
  --user admin --password-file "$work/admin.txt"
"$linux_outpost" status --data-dir "$workstation" | tee "$work/linux-status.txt"
grep -Eq "^pending changes: +0" "$work/linux-status.txt" || fail "changes were left unsent"
"$wine" "$server_exe" device list --data-dir "$server_data" | tee "$work/devices.txt"
grep -q "Workstation" "$work/devices.txt" || fail "the workstation is not enrolled"

echo "== installing, upgrading in place and uninstalling (msiexec under Wine)"
installed="C:\\Program Files\\Outpost\\outpost.exe"
"$wine" msiexec /i "$(winpath "$repo_msi")" /qn || fail "the MSI did not install"
[ -f "$WINEPREFIX/drive_c/Program Files/Outpost/outpost.exe" ] || fail "nothing under Program Files"
local_data="$("$wine" cmd /c 'echo %LOCALAPPDATA%' | tr -d '\r')\\Outpost\\Outpost\\data"
"$wine" "$installed" demo --patients 20 --data-dir "$local_data" >/dev/null
# With no --data-dir the installed program finds it: the user's local application data.
"$wine" "$installed" status | tee "$work/installed-status.txt"
grep -Eq "^patients: +20" "$work/installed-status.txt" || fail "the default data folder is not LocalAppData"
# A newer build of the same product replaces the installed one and leaves the data.
next_version="$(echo "$version" | awk -F. '{ printf "%d.%d.%d", $1, $2, $3 + 1 }')"
wixl --arch x64 -D "Version=$next_version" -D "BinDir=target/windows-staging" -D "SourceDir=." \
  -o "$work/upgrade.msi" packaging/windows/outpost.wxs 2>/dev/null
"$wine" msiexec /i "$(winpath "$work/upgrade.msi")" /qn || fail "the upgrade did not install"
"$wine" reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s |
  tr -d '\r' | tee "$work/products.txt" | grep -E "DisplayName|DisplayVersion"
[ "$(grep -c "DisplayName.*Outpost$" "$work/products.txt")" -eq 1 ] ||
  fail "the upgrade left two Outposts installed"
grep -q "DisplayVersion.*$next_version" "$work/products.txt" || fail "the upgrade is not the one installed"
grep -Eq "^patients: +20" <<<"$("$wine" "$installed" status)" || fail "the upgrade lost the data"
# Uninstalling removes the program and keeps the records.
"$wine" msiexec /x "$(winpath "$work/upgrade.msi")" /qn || fail "the MSI did not uninstall"
[ ! -e "$WINEPREFIX/drive_c/Program Files/Outpost/outpost.exe" ] || fail "the program is still there"
find "$WINEPREFIX/drive_c/users" -path "*AppData/Local/Outpost/Outpost/data/outpost.sqlite3" |
  grep -q . || fail "uninstalling removed the records"

echo "check-windows: the MSI and its programs work"
