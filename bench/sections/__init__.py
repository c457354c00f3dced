"""The benchmark's sections; each ``run(...)`` returns the JSON of its key in bench/results/latest.json."""
