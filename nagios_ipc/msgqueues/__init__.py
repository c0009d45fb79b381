"""check_msgqueues: System V and POSIX message queues, per owner and in total."""
