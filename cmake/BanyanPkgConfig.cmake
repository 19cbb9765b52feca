# BanyanPkgConfig.cmake - make every configure see pkg-config modules alike.
#
# Included right after find_package(PkgConfig).  pkg_check_modules() runs
# pkg-config on the first configure only; later ones rebuild the
# PkgConfig:: targets from the cache.  But FindPkgConfig (CMake 3.25 at
# least) moves "-isystem DIR" from a module's other cflags to its include
# directories in plain variables, not in the cache.  libzmq's cflags on
# Debian 12 carry "-isystem /usr/include/mit-krb5": the first configure
# makes it an include directory, every later one a compile option, so the
# command line of every object that uses libzmq changes and `make check`
# after `make demo` rebuilt about 80 objects.
#
# Forgetting that the modules were checked makes each configure query
# pkg-config again, the way the first one did (a few ms a module), and
# picks up a .pc file changed since.
get_cmake_property(banyan_cache_vars CACHE_VARIABLES)
foreach(v IN LISTS banyan_cache_vars)
    if(v MATCHES "^__pkg_config_checked_")
        unset(${v} CACHE)
    endif()
endforeach()
unset(banyan_cache_vars)
