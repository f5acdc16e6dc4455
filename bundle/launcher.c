/*
 * The node bundle's executable: embeds the bundle's own libpython and runs entry.main(), like
 * `python -I -S entry.py` with the bundle's directories as the whole module search path.
 *
 * Layout next to this executable (bundle/assemble.py makes it):
 *   lib/libpython3.11.so.1.0     found through DT_RPATH $ORIGIN/lib (also by the extension
 *                                modules' libraries; LD_LIBRARY_PATH cannot redirect it)
 *   lib/python3.11/              the standard library modules it needs, as .pyc
 *   lib/python3.11/lib-dynload/  their extension modules
 *   lib/app/                     hostdev, cni_main, deploy, entry, _cffi_backend
 *
 * Why not PyInstaller's bootloader: in one-dir mode on Linux it always executes itself a second
 * time (to set LD_LIBRARY_PATH), reads its archive's table of contents and imports through its
 * own importer; that made every start 1.2-1.4x the plain interpreter's (bundle/README.md).
 *
 * The directory is the real one of /proc/self/exe: the CNI runtime runs a symlink
 * (/opt/cni/bin/amd-host-device -> .amd-host-device/<build>/amd-host-device), and a call in
 * flight keeps using its own build while the installer switches the link.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char COMMAND[] = "import sys\nfrom entry import main\nsys.exit(main())\n";
static const char *const SEARCH_PATH[] = {"lib/python3.11", "lib/python3.11/lib-dynload", "lib/app"};

/* The directory of this executable, symlinks resolved: 0, or -1 if it cannot be known. */
static int own_directory(char *dir, size_t size, const char *argv0)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) {
        path[n] = '\0';
    } else if (argv0 == NULL || realpath(argv0, path) == NULL) { /* no /proc: the path run */
        return -1;
    }
    char *slash = strrchr(path, '/');
    if (slash == NULL || (size_t)(slash - path) + 1 > size) {
        return -1;
    }
    *slash = '\0';
    memcpy(dir, path, (size_t)(slash - path) + 1);
    return 0;
}

static void exit_on_error(PyStatus status, PyConfig *config)
{
    if (PyStatus_Exception(status)) {
        PyConfig_Clear(config);
        Py_ExitStatusException(status);
    }
}

int main(int argc, char **argv)
{
    char dir[PATH_MAX];
    if (own_directory(dir, sizeof dir, argc > 0 ? argv[0] : NULL) < 0) {
        fputs("amd-host-device: cannot find the directory of its own executable\n", stderr);
        return 1;
    }

    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.isolated = 1;           /* -I: no PYTHON* variables, no user site, no script dir on the path */
    config.site_import = 0;        /* -S */
    config.parse_argv = 0;         /* the arguments are the installer's (sys.argv), not Python options */
    config.write_bytecode = 0;     /* the bundle is read-only to its own runs */
    config.pathconfig_warnings = 0;
    exit_on_error(PyConfig_SetBytesArgv(&config, argc, argv), &config);
    exit_on_error(PyConfig_SetBytesString(&config, &config.home, dir), &config);

    config.module_search_paths_set = 1;
    for (size_t i = 0; i < sizeof SEARCH_PATH / sizeof *SEARCH_PATH; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, SEARCH_PATH[i]) >= (int)sizeof path) {
            fputs("amd-host-device: path too long\n", stderr);
            return 1;
        }
        wchar_t *wide = Py_DecodeLocale(path, NULL);
        if (wide == NULL) {
            fputs("amd-host-device: cannot decode its own path\n", stderr);
            return 1;
        }
        PyStatus status = PyWideStringList_Append(&config.module_search_paths, wide);
        PyMem_RawFree(wide);
        exit_on_error(status, &config);
    }
    exit_on_error(PyConfig_SetBytesString(&config, &config.run_command, COMMAND), &config);

    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }
    return Py_RunMain();
}
