"""check_zmq_hwm: ZeroMQ high-water-mark pressure and message loss."""
