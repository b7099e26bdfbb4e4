#!/usr/bin/env bash
# npm run package:deb: builds parley_<version>_amd64.deb with Debian's own tools (dpkg-deb,
# checked by lintian when it is installed) from this tree: the built appliance under
# /opt/parley with production dependencies only (sqlite3's native binary as built here, amd64),
# /usr/bin/parley, /etc/parley/parley.yaml (conffile), the systemd unit, maintainer scripts.
# Usage: build-deb.sh [OUTPUT_DIR]   (default dist-deb/); PARLEY_DEB_VERSION overrides the version.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/installers/debian"
OUT=$(mkdir -p "${1:-$ROOT/dist-deb}" && cd "${1:-$ROOT/dist-deb}" && pwd)
VERSION=${PARLEY_DEB_VERSION:-$(node -p "require('$ROOT/package.json').version")}
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "build-deb: the package is amd64 (sqlite3's native module is built for this machine)" >&2; exit 1; }

cd "$ROOT"
npm run build --silent
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/parley"
APP="$PKG/opt/parley"
mkdir -p "$PKG/DEBIAN" "$APP/appliance" "$APP/shared" "$PKG/usr/bin" "$PKG/etc/parley" "$PKG/lib/systemd/system" "$PKG/usr/share/doc/parley"

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
# the workspace links point at the copies above; a console workspace is not part of the server
rm -rf "$APP/node_modules/.bin" "$APP/node_modules/.package-lock.json"
# what only building or reading needs: sqlite3's sources and objects (its .node binary stays),
# node-gyp, type declarations, source maps, docs
S3="$APP/node_modules/sqlite3"
find "$S3/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$S3/build/Release" -mindepth 1 ! -name node_sqlite3.node -exec rm -rf {} +
rm -rf "$S3/deps" "$S3/src" "$APP/node_modules/node-gyp" "$APP/node_modules/node-addon-api"
find "$APP/node_modules" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' -o -name '*.markdown' -o -name '.gitattributes' -o -name '*.html' -o -name '*.gyp' -o -name '*.bat' -o -name '*.py' \) -type f -delete
find "$APP/node_modules" \( -name '.eslintrc*' -o -name 'eslint.config.*' -o -name '.npmignore' \) -type f -delete
# npm leaves some files executable that are not programs; node loads the addon with dlopen
find "$APP" -type f -perm /111 -exec chmod 0644 {} +
strip --strip-unneeded "$S3/build/Release/node_sqlite3.node"

install -m 0755 "$HERE/parley.sh" "$PKG/usr/bin/parley"
install -m 0640 "$HERE/parley.yaml" "$PKG/etc/parley/parley.yaml"
install -m 0644 "$HERE/parley.service" "$PKG/lib/systemd/system/parley.service"
install -m 0644 README.md "$PKG/usr/share/doc/parley/README.md"
gzip -9n -c "$HERE/changelog" > "$PKG/usr/share/doc/parley/changelog.gz"
install -m 0644 "$HERE/copyright" "$PKG/usr/share/doc/parley/copyright"
install -D -m 0644 "$HERE/lintian-overrides" "$PKG/usr/share/lintian/overrides/parley"
for s in postinst prerm postrm; do install -m 0755 "$HERE/$s" "$PKG/DEBIAN/$s"; done
echo /etc/parley/parley.yaml > "$PKG/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE@/$SIZE/" "$HERE/control.in" > "$PKG/DEBIAN/control"
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums)

DEB="$OUT/parley_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group -Zgzip --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
if [ "${PARLEY_DEB_LINTIAN:-0}" = 1 ]; then
  # minutes on a package of node_modules, so asked for; the remaining tags are explained in
  # installers/debian/README.md
  lintian "$DEB" >&2 || true
fi
