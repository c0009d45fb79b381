#!/bin/sh
# A comma-decimal locale (de_DE.UTF-8) for the conformance tests: the checks must print
# the same figures under it as under C. Idempotent: generates only when missing.
set -eu
if locale -a 2>/dev/null | grep -qix 'de_DE.utf8'; then
    echo "de_DE.UTF-8 present"
    exit 0
fi
if ! grep -q '^de_DE.UTF-8 UTF-8' /etc/locale.gen 2>/dev/null; then
    echo 'de_DE.UTF-8 UTF-8' >> /etc/locale.gen
fi
locale-gen >/dev/null
echo "de_DE.UTF-8 generated"
