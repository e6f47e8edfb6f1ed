#!/bin/sh
# check_symbols.sh NM ARCHIVE - every external symbol the library defines has the wc_ prefix and is defined
# once. (That they link together at all is proved by symbols_all, which links the whole archive into one program.)
set -eu
nm=$1
archive=$2
# "archive:object.o:address type name" (llvm-nm puts a space before the address); the sanitizers add their own
# globals (__odr_asan.*, __asan_*).
"$nm" -A -g --defined-only "$archive" | awk '
    NF >= 3 && $NF !~ /^__(odr_asan|asan_|ubsan_|sanitizer_|sancov_)/ {
        name = $NF
        split($1, where, ":")
        n++
        if (name !~ /^wc_/) { printf "%s: %s has no wc_ prefix\n", where[2], name; bad = 1 }
        if (name in seen) { printf "%s: %s is defined in %s too\n", where[2], name, seen[name]; bad = 1 }
        seen[name] = where[2]
    }
    END {
        if (n == 0) { print "no symbol found: is this the library?"; exit 1 }
        if (bad) exit 1
        printf "%d external symbols, each with the wc_ prefix and defined once\n", n
    }'
