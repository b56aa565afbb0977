module github.com/pekonode/pekonode/bindings/go

go 1.26.8
