module reseal.dev/bench/loadgen

go 1.22
