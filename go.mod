module github.com/edgeroute/edgeroute

go 1.26
