/* replay.c - runs a fuzz target's entry point over files, without libFuzzer, so corpora and regression
 * inputs run in every CTest build (gcc, ASan/UBSan, valgrind).
 * Usage: replay_NAME [-p PREFIX] PATH...  A directory's files are all run, or only those whose names start
 * with the latest PREFIX. Exits 0 when at least one input ran and none broke an invariant (a broken one
 * aborts, naming the input first). */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static size_t ran;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    /* Exactly n bytes on the heap, so that ASan sees a read one past the input. */
    if (!(buf = malloc(n ? (size_t)n : 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "replay: %s: short read\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    fprintf(stderr, "replay: %s (%ld bytes)\n", path, n);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    ran++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int r = 0;

    if (!d) {
        /* No regression inputs yet is fine; a missing corpus is caught by "nothing ran". */
        return errno == ENOENT ? 0 : -1;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix)) != 0))
            continue;
        if (n == cap && !(names = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names)))
            abort();
        if (asprintf(&names[n++], "%s/%s", dir, e->d_name) < 0)
            abort();
    }
    closedir(d);
    /* Sorted, so that two runs print the same order. */
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (run_file(names[i]) < 0)
            r = -1;
        free(names[i]);
    }
    free(names);
    return r;
}

int main(int argc, char **argv)
{
    const char *prefix = NULL;
    int bad = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            prefix = argv[++i];
            continue;
        }
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            bad |= run_dir(argv[i], prefix) < 0;
        else
            bad |= run_file(argv[i]) < 0;
    }
    fprintf(stderr, "replay: %zu inputs\n", ran);
    return bad || ran == 0;
}
