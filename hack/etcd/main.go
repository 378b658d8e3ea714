// Command etcd is etcd's own server entry point, built from the published
// go.etcd.io/etcd/server/v3 module so that no prebuilt release is downloaded.
// Its version comes from hack/versions.env (ETCD_VERSION) through go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
