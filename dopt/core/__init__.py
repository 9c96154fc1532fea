"""What every family shares: problems, methods, results, devices, files."""
