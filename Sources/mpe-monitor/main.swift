print("mpe-monitor")
