/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/devices.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/util.h"
#include "runtime/cgroup.h"

/* The kernel's numbers (include/uapi/linux/major.h, miscdevice.h). */
enum {
  MEM_MAJOR = 1,
  TTY_MAJOR = 4,
  TTYAUX_MAJOR = 5,
  MISC_MAJOR = 10,
  UNIX98_PTY_MASTER_MAJOR = 128,
  UNIX98_PTY_MAJOR_COUNT = 8,
  UNIX98_PTY_SLAVE_MAJOR = 136,
  USB_SERIAL_MAJOR = 188,
  LOW_DENSE_SERIAL_MAJOR = 204,
  TUN_MINOR = 200,
  AUTOFS_MINOR = 235,
  MIN_NR_CONSOLES = 1,
  MAX_NR_CONSOLES = 63,
};

int ferry_criu_dumps_chrdev(unsigned major, unsigned minor)
{
  switch (major) {
  case MEM_MAJOR:
  case USB_SERIAL_MAJOR:
  case LOW_DENSE_SERIAL_MAJOR:
  case UNIX98_PTY_SLAVE_MAJOR:
    return 1;
  case MISC_MAJOR:
    return minor == TUN_MINOR || minor == AUTOFS_MINOR;
  case TTYAUX_MAJOR:
    return minor <= 2; /* /dev/tty, /dev/console, /dev/ptmx */
  case TTY_MAJOR:
    return minor >= MIN_NR_CONSOLES && minor <= MAX_NR_CONSOLES; /* virtual consoles */
  default:
    return major >= UNIX98_PTY_MASTER_MAJOR && major < UNIX98_PTY_MASTER_MAJOR + UNIX98_PTY_MAJOR_COUNT;
  }
}

/* Process pid's short name ("?" when it cannot be read). */
static void comm_of(pid_t pid, char *name, size_t len)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(path, &text, NULL, &err) < 0)
    snprintf(name, len, "?");
  else
    snprintf(name, len, "%.*s", (int)strcspn(text, "\n"), text);
}

int ferry_process_undumpable_device(pid_t pid, char *why, size_t len)
{
  char dir_path[64];
  snprintf(dir_path, sizeof dir_path, "/proc/%d/fd", (int)pid);
  cleanup_dir DIR *dir = opendir(dir_path);
  if (!dir)
    return 0;
  struct dirent *e;
  while ((e = readdir(dir))) {
    struct stat st;
    if (e->d_name[0] == '.' || fstatat(dirfd(dir), e->d_name, &st, 0) < 0 || !S_ISCHR(st.st_mode) ||
        ferry_criu_dumps_chrdev(major(st.st_rdev), minor(st.st_rdev)))
      continue;
    char target[PATH_MAX] = "?", name[32];
    ssize_t n = readlinkat(dirfd(dir), e->d_name, target, sizeof target - 1);
    target[n > 0 ? n : 1] = '\0';
    comm_of(pid, name, sizeof name);
    snprintf(why, len, "process %d (%s) has %s open (character device %u:%u), which CRIU cannot dump", (int)pid, name,
             target, major(st.st_rdev), minor(st.st_rdev));
    return 1;
  }
  return 0;
}

int ferry_container_undumpable_device(pid_t init, size_t max, char *why, size_t len)
{
  int r = ferry_cgroup_find_proc(init, max, ferry_process_undumpable_device, why, len);
  return r < 0 ? ferry_process_undumpable_device(init, why, len) : r;
}
