module github.com/pekonode/pekonode/examples/go

go 1.26.8

require github.com/pekonode/pekonode/bindings/go v0.0.0-00010101000000-000000000000

replace github.com/pekonode/pekonode/bindings/go => ../../bindings/go
