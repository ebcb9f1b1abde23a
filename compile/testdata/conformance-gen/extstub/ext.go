package ext
