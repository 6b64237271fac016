"""Reading a node's kubelet the way it reads itself: its systemd unit and drop-ins (systemd),
its flags and config file (config), and the defaults of each version."""
