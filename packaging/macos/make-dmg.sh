#!/bin/sh
# macOS: build "Trading Terminal.app" with the spec and wrap it in a compressed .dmg.
# Run from the repository root on a Mac with the venv made by `make`:  sh packaging/macos/make-dmg.sh
# Signing and notarisation (needed for Gatekeeper without a right-click Open) are left to the
# release machine: set SIGN_IDENTITY to a "Developer ID Application" identity to sign here.
set -eu
PY=${PY:-.venv/bin/python}
"$PY" packaging/build.py --no-deb
VERSION=$("$PY" -c "import sys; sys.path.insert(0, 'packaging'); import bundle_config as c; print(c.version())")
APP="dist/Trading Terminal.app"
test -d "$APP" || { echo "no $APP: the spec's BUNDLE step did not run" >&2; exit 1; }
if [ -n "${SIGN_IDENTITY:-}" ]; then
    codesign --deep --force --options runtime --sign "$SIGN_IDENTITY" "$APP"
fi
STAGE=$(mktemp -d)
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"   # drag-to-install
hdiutil create -volname "Trading Terminal" -srcfolder "$STAGE" -ov -format UDZO \
    "dist/trading-terminal-$VERSION.dmg"
rm -rf "$STAGE"
echo "dist/trading-terminal-$VERSION.dmg"
