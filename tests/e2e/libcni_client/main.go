// A minimal CNI runtime on Debian's libcni (golang-github-appc-cni-dev), for the e2e tier: it
// drives a network configuration list the way every libcni-based runtime does (Multus,
// containerd's go-cni, podman's CNI backend, cnitool): VERSION checks of each plugin,
// capability arguments injected as runtimeConfig, results cached and handed to CHECK and DEL as
// prevResult.
//
//	libcni-client add|check|del CONFLIST CONTAINER_ID NETNS IFNAME CACHE_DIR [CAPABILITY_ARGS_JSON]
//
// Plugins are looked up in $CNI_PATH. ADD prints the final result; errors go to stderr, exit 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 6 {
		return fmt.Errorf("usage: libcni-client add|check|del CONFLIST CONTAINER_ID NETNS IFNAME CACHE_DIR [CAPABILITY_ARGS_JSON]")
	}
	command, conflist, containerID, netns, ifname, cacheDir := args[0], args[1], args[2], args[3], args[4], args[5]
	list, err := libcni.ConfListFromFile(conflist)
	if err != nil {
		return err
	}
	capabilities := map[string]interface{}{}
	if len(args) > 6 {
		if err := json.Unmarshal([]byte(args[6]), &capabilities); err != nil {
			return fmt.Errorf("capability args: %w", err)
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), cacheDir, nil)
	rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netns, IfName: ifname, CapabilityArgs: capabilities}
	ctx := context.Background()
	switch command {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return err
		}
		return result.Print()
	case "check":
		return cni.CheckNetworkList(ctx, list, rt)
	case "del":
		return cni.DelNetworkList(ctx, list, rt)
	}
	return fmt.Errorf("unknown command %q", command)
}
