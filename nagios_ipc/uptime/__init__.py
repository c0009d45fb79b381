"""check_host_uptime: uptime to the second, uptime in the last period, reboots between runs."""
