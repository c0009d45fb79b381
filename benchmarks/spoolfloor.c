/* The system calls of check_mta_backlog's full-detail spool read, and nothing else.
 *
 *   spoolfloor postfix QUEUE_DIR [--no-fstat]
 *   spoolfloor exim SPOOL_DIR [--no-fstat]
 *
 * For every message it makes the calls the check makes (nagios_ipc/mta/postfix.py
 * PostfixSpool.messages, exim.py EximSpool._messages): each directory read with
 * getdents, each queue file opened with openat(O_NOFOLLOW|O_NONBLOCK) from its
 * directory's descriptor, fstat'ed (the check refuses anything but a regular file),
 * read once and closed; Postfix's defer log (defer/<hash>/<id>, where a held message's
 * hash is its first character) of every deferred and held message the same way; Exim's -D file lstat'ed (fstatat) for the size and its
 * msglog opened, fstat'ed, read and closed. No byte read is looked at.
 *
 * Its CPU time is the least any implementation of full detail can cost on this
 * kernel, whatever the language: benchmarks/bench.py measures it in the same rounds
 * as check_mailq and the check. --no-fstat drops the fstat after each open (a bound
 * below even that: the check could not tell a FIFO from a file then).
 *
 * Prints the number of messages and of files opened.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define O_FILE (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
#define O_DIR (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

static int use_fstat = 1;
static long messages, opened;
static char buffer[65536];

static void read_file(int dir_fd, const char *name, size_t size) {
    int fd = openat(dir_fd, name, O_FILE);
    if (fd < 0)
        return;
    opened++;
    struct stat info;
    if (!use_fstat || (fstat(fd, &info) == 0 && S_ISREG(info.st_mode)))
        if (read(fd, buffer, size) < 0)
            perror(name);
    close(fd);
}

/* Postfix: every file below QUEUE_DIR/QUEUE (hash subdirectories are one character
 * long), with its defer log below QUEUE_DIR/defer when *logs* is set. */
static void postfix_dir(int queue_fd, const char *sub, int defer_fd, int logs) {
    int dir_fd = sub[0] ? openat(queue_fd, sub, O_DIR) : dup(queue_fd);
    if (dir_fd < 0)
        return;
    int log_fd = -1;
    if (logs && defer_fd >= 0 && sub[0])
        log_fd = openat(defer_fd, sub, O_DIR);
    DIR *dir = fdopendir(dup(dir_fd));
    struct dirent *entry;
    while (dir && (entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        if (entry->d_type == DT_DIR) {
            if (strlen(entry->d_name) == 1) {
                char path[256];
                snprintf(path, sizeof path, "%s%s%s", sub, sub[0] ? "/" : "", entry->d_name);
                postfix_dir(queue_fd, path, defer_fd, logs);
            }
            continue;
        }
        messages++;
        read_file(dir_fd, entry->d_name, 16384);
        if (log_fd >= 0) {
            read_file(log_fd, entry->d_name, 16384);
        } else if (logs && defer_fd >= 0 && !sub[0]) {
            /* hold/ is flat, its logs are hashed: defer/<first character>/<id> */
            char path[sizeof entry->d_name + 2];
            snprintf(path, sizeof path, "%c/%s", entry->d_name[0], entry->d_name);
            read_file(defer_fd, path, 16384);
        }
    }
    if (dir)
        closedir(dir);
    if (log_fd >= 0)
        close(log_fd);
    close(dir_fd);
}

static int postfix(const char *root) {
    static const char *queues[] = {"incoming", "active", "deferred", "hold", "maildrop"};
    int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        perror(root);
        return 1;
    }
    int defer_fd = openat(root_fd, "defer", O_DIR);
    for (size_t i = 0; i < sizeof queues / sizeof *queues; i++) {
        int queue_fd = openat(root_fd, queues[i], O_DIR);
        if (queue_fd < 0)
            continue;
        int logs = !strcmp(queues[i], "deferred") || !strcmp(queues[i], "hold");
        postfix_dir(queue_fd, "", defer_fd, logs);
        close(queue_fd);
    }
    return 0;
}

/* Exim: input/ (flat or split into one-character subdirectories) and msglog/ alike. */
static void exim_dir(int input_fd, int msglog_fd, const char *sub) {
    int dir_fd = sub[0] ? openat(input_fd, sub, O_DIR) : dup(input_fd);
    if (dir_fd < 0)
        return;
    int log_fd = msglog_fd < 0 ? -1 : sub[0] ? openat(msglog_fd, sub, O_DIR) : dup(msglog_fd);
    DIR *dir = fdopendir(dup(dir_fd));
    struct dirent *entry;
    while (dir && (entry = readdir(dir))) {
        const char *name = entry->d_name;
        size_t length = strlen(name);
        if (entry->d_type == DT_DIR) {
            if (length == 1 && name[0] != '.')
                exim_dir(input_fd, msglog_fd, name);
            continue;
        }
        if (length < 3 || strcmp(name + length - 2, "-H"))
            continue;
        messages++;
        read_file(dir_fd, name, 65536);
        char other[256];
        snprintf(other, sizeof other, "%.*s-D", (int)(length - 2), name);
        struct stat info;
        fstatat(dir_fd, other, &info, AT_SYMLINK_NOFOLLOW);
        if (log_fd >= 0) {
            snprintf(other, sizeof other, "%.*s", (int)(length - 2), name);
            read_file(log_fd, other, 65536);
        }
    }
    if (dir)
        closedir(dir);
    if (log_fd >= 0)
        close(log_fd);
    close(dir_fd);
}

static int exim(const char *root) {
    int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        perror(root);
        return 1;
    }
    int input_fd = openat(root_fd, "input", O_DIR);
    if (input_fd < 0) {
        perror("input");
        return 1;
    }
    exim_dir(input_fd, openat(root_fd, "msglog", O_DIR), "");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "postfix") && strcmp(argv[1], "exim"))) {
        fprintf(stderr, "usage: %s postfix|exim DIRECTORY [--no-fstat]\n", argv[0]);
        return 2;
    }
    use_fstat = !(argc > 3 && !strcmp(argv[3], "--no-fstat"));
    int status = !strcmp(argv[1], "postfix") ? postfix(argv[2]) : exim(argv[2]);
    printf("%ld messages, %ld files opened\n", messages, opened);
    return status;
}
