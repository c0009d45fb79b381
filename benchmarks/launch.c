/* Run a command and report its wall time, its CPU time and its own peak RSS.
 *
 * wait4()'s ru_maxrss counts the RSS of the process that forked the child, as
 * the child had it before exec: measured from Python it is never below the
 * interpreter's ~14 MiB. This launcher is a few hundred KiB, so the figure it
 * reports is the command's own. CPU time is user + system of the child and of the
 * children it waited for (wait4 reports both): on a shared machine it moves far less
 * than wall time. Output: "<wall seconds> <cpu seconds> <maxrss KiB> <exit status>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

int main(int argc, char **argv) {
    struct timespec start, end;
    struct rusage usage;
    int status = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: launch COMMAND [ARGS...]\n");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execv(argv[1], argv + 1);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &status, 0, &usage) < 0) {
        perror("launch");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
                 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
    printf("%.6f %.6f %ld %d\n",
           (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9, cpu,
           usage.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
