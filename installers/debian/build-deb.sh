#!/usr/bin/env bash
# npm run package:deb: builds parley_<version>_amd64.deb with Debian's own tools (dpkg-deb,
# checked by lintian when it is installed) from this tree: the built appliance under
# /opt/parley with production dependencies only (sqlite3's native binary as built here, amd64),
# /usr/bin/parley, /etc/parley/parley.yaml (conffile), the systemd unit, maintainer scripts.
# Usage: build-deb.sh [OUTPUT_DIR]   (default dist-deb/); PARLEY_DEB_VERSION overrides the version,
# PARLEY_DEB_MAINTAINER the maintainer (else package.json's "author", "Name <address>").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/installers/debian"
OUT=$(mkdir -p "${1:-$ROOT/dist-deb}" && cd "${1:-$ROOT/dist-deb}" && pwd)
VERSION=${PARLEY_DEB_VERSION:-$(node -p "require('$ROOT/package.json').version")}
# Debian Policy §5.6.2: the maintainer's name and a working address; it goes in control and the changelog
MAINTAINER=${PARLEY_DEB_MAINTAINER:-$(node -p "const a=require('$ROOT/package.json').author; typeof a==='string'?a:a?\`\${a.name} <\${a.email}>\`:''")}
[[ "$MAINTAINER" =~ ^[^\<\>@]+\ \<[^\<\>@\ ]+@[^\<\>@\ ]+\.[^\<\>@\ ]+\>$ ]] || { echo "build-deb: the maintainer must be \"Name <user@host.domain>\" (package.json author or PARLEY_DEB_MAINTAINER), not \"$MAINTAINER\"" >&2; exit 1; }
# RFC 2606/6761 names are placeholders: lintian accepts them, nobody reads mail there
if [[ "$MAINTAINER" =~ @([^\>]*\.)?(example\.(org|com|net)|[^\>]*\.(example|test|invalid|localhost))\>$ ]]; then
  echo "build-deb: warning: the maintainer address \"$MAINTAINER\" is a reserved placeholder; set package.json author or PARLEY_DEB_MAINTAINER to a real one before publishing" >&2
fi
HOMEPAGE=$(node -p "require('$ROOT/package.json').homepage ?? ''")
# the templates' @MAINTAINER@ and @HOMEPAGE@ (a line left empty by a missing homepage goes: both fields are optional)
esc() { printf '%s' "$1" | sed -e 's/[\/&|]/\\&/g'; }
fill() { sed -e "s|@VERSION@|$VERSION|" -e "s|@MAINTAINER@|$(esc "$MAINTAINER")|" -e "s|@HOMEPAGE@|$(esc "$HOMEPAGE")|" -e '/^\(Homepage\|Source\): $/d' "$1"; }
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "build-deb: the package is amd64 (sqlite3's native module is built for this machine)" >&2; exit 1; }

cd "$ROOT"
npm run build --silent
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/parley"
APP="$PKG/opt/parley"
mkdir -p "$PKG/DEBIAN" "$APP/appliance" "$APP/shared" "$PKG/usr/bin" "$PKG/etc/parley" "$PKG/lib/systemd/system" "$PKG/usr/share/doc/parley" "$PKG/usr/share/man/man1"

# the workspace layout, so that node resolves @parley/shared as in the source tree
cp package.json package-lock.json "$APP/"
cp -r appliance/package.json appliance/dist appliance/schemas "$APP/appliance/"
cp -r shared/package.json shared/dist "$APP/shared/"
# the console goes in as the built renderer the appliance serves at /console (its default
# http.consoleDir, console/dist beside appliance/); its workspace (Vue, Vite, Electron) is not part
# of the server, so it leaves the staged package.json and its packages are pruned below
mkdir -p "$APP/console" && cp -r console/dist "$APP/console/"
node -e 'const f=process.argv[1],p=JSON.parse(require("fs").readFileSync(f));p.workspaces=p.workspaces.filter((w)=>w!=="console");require("fs").writeFileSync(f,JSON.stringify(p,null,2)+"\n")' "$APP/package.json"
find "$APP" -name '*.map' -delete -o -name '*.d.ts' -delete -o -name '*.test.js' -delete
# production dependencies only: the tree installed here, pruned offline (the native sqlite3
# binary is the one built on this machine, so no download happens at packaging time)
cp -a node_modules "$APP/"
(cd "$APP" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts >/dev/null)
# every node_modules folder of the staged tree: the root's, and a workspace's own where a version
# differs from the root's (appliance/node_modules)
mapfile -t NM < <(find "$APP" -type d -name node_modules -prune)
# the workspace links point at the copies above; a console workspace is not part of the server
find "${NM[@]}" -type d -name .bin -prune -exec rm -rf {} +
rm -f "$APP/node_modules/.package-lock.json"
# what only building or reading needs: sqlite3's sources and objects (its .node binary stays),
# node-gyp, type declarations, source maps, docs
S3="$APP/node_modules/sqlite3"
find "$S3/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$S3/build/Release" -mindepth 1 ! -name node_sqlite3.node -exec rm -rf {} +
rm -rf "$S3/deps" "$S3/src" "$APP/node_modules/node-gyp" "$APP/node_modules/node-addon-api"
find "${NM[@]}" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' -o -name '*.markdown' -o -name '.gitattributes' -o -name '*.html' -o -name '*.gyp' -o -name '*.bat' -o -name '*.py' \) -type f -delete
find "${NM[@]}" \( -name '.eslintrc*' -o -name 'eslint.config.*' -o -name '.npmignore' \) -type f -delete
# modules' own git hooks and CI settings, and the folders left empty (lintian: empty directories)
find "${NM[@]}" -type d \( -name .husky -o -name .github \) -prune -exec rm -rf {} +
find "${NM[@]}" -mindepth 1 -type d -empty -delete
# npm leaves some files executable that are not programs; node loads the addon with dlopen
find "$APP" -type f -perm /111 -exec chmod 0644 {} +
# as dh_strip does: symbols and the compiler's .comment/.note sections
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$S3/build/Release/node_sqlite3.node"
# the native UDP socket, built into appliance/dist/native by npm run build (absent without a compiler)
for so in "$APP"/appliance/dist/native/*.node; do
  [ -e "$so" ] && strip --remove-section=.comment --remove-section=.note --strip-unneeded "$so"
done

install -m 0755 "$HERE/parley.sh" "$PKG/usr/bin/parley"
gzip -9n -c "$HERE/parley.1" > "$PKG/usr/share/man/man1/parley.1.gz"
install -m 0640 "$HERE/parley.yaml" "$PKG/etc/parley/parley.yaml"
install -m 0644 "$HERE/parley.service" "$PKG/lib/systemd/system/parley.service"
install -D -m 0644 "$HERE/60-parley.conf" "$PKG/usr/lib/sysctl.d/60-parley.conf"
install -m 0644 README.md "$PKG/usr/share/doc/parley/README.md"
fill "$HERE/changelog" | gzip -9n > "$PKG/usr/share/doc/parley/changelog.gz"
fill "$HERE/copyright" > "$PKG/usr/share/doc/parley/copyright"
chmod 0644 "$PKG/usr/share/doc/parley/copyright"
install -D -m 0644 "$HERE/lintian-overrides" "$PKG/usr/share/lintian/overrides/parley"
for s in postinst prerm postrm; do install -m 0755 "$HERE/$s" "$PKG/DEBIAN/$s"; done
echo /etc/parley/parley.yaml > "$PKG/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
fill "$HERE/control.in" | sed -e "s/@SIZE@/$SIZE/" > "$PKG/DEBIAN/control"
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums)

DEB="$OUT/parley_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group -Zgzip --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
if [ "${PARLEY_DEB_LINTIAN:-0}" = 1 ]; then
  # minutes on a package of node_modules, so asked for; the remaining tags are explained in
  # installers/debian/README.md
  lintian "$DEB" >&2 || true
fi
