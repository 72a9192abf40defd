print("mpe-bench")
