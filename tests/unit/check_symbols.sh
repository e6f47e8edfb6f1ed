#!/bin/sh
# check_symbols.sh NM ARCHIVE - every external symbol the library defines has the wc_ prefix and is defined
# once. (That they link together at all is proved by symbols_all, which links the whole archive into one program.)
set -eu
nm=$1
archive=$2
# "archive:object.o:address type name"; the sanitizers add their own globals (__odr_asan.*, __asan_*).
"$nm" -A -g --defined-only "$archive" | awk '
    NF == 3 && $3 !~ /^__(odr_asan|asan_|ubsan_|sanitizer_|sancov_)/ {
        split($1, where, ":")
        n++
        if ($3 !~ /^wc_/) { printf "%s: %s has no wc_ prefix\n", where[2], $3; bad = 1 }
        if ($3 in seen) { printf "%s: %s is defined in %s too\n", where[2], $3, seen[$3]; bad = 1 }
        seen[$3] = where[2]
    }
    END {
        if (n == 0) { print "no symbol found: is this the library?"; exit 1 }
        if (bad) exit 1
        printf "%d external symbols, each with the wc_ prefix and defined once\n", n
    }'
