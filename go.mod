module github.com/edgeroute/edgeroute

go 1.26

require github.com/dgryski/go-farm v0.0.0-20240924180020-3414d57e47da // indirect
