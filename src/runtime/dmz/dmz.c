// lcloud-dmz: the last step into a container's program. The runtime copies this tiny program
// into a sealed memfd and execs the program through it, so that no process in the container
// ever has the runtime's host binary as its /proc/self/exe: a script starting with
// "#!/proc/self/exe" then runs this sealed copy, not something whose file on the host could be
// overwritten (CVE-2019-5736). Freestanding: no libc, so the copy is a few hundred bytes.
//
// argv: the path to exec, then the argv to give it (argv[0] included).
#include <asm/unistd.h>

#if !defined(__x86_64__)
#error "lcloud-dmz is written for x86_64"
#endif

static long syscall3(long number, long first, long second, long third) {
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(first), "S"(second), "d"(third)
                     : "rcx", "r11", "memory");
    return result;
}

static unsigned long length(const char* text) {
    unsigned long count = 0;
    while (text[count]) ++count;
    return count;
}

static void say(const char* text) {
    syscall3(__NR_write, 2, (long)text, (long)length(text));
}

__attribute__((used, noreturn)) void dmz_main(long* stack) {
    const long argc = stack[0];
    char** argv = (char**)(stack + 1);
    char** envp = argv + argc + 1;
    if (argc < 2) {
        say("lcloud-runtime: nothing to exec\n");
    } else {
        const long error = -syscall3(__NR_execve, (long)argv[0], (long)(argv + 1), (long)envp);
        char digits[8];
        int at = 7;
        digits[at] = 0;
        for (long value = error; at > 0 && (value > 0 || at == 7); value /= 10)
            digits[--at] = (char)('0' + value % 10);
        say("lcloud-runtime: exec ");
        say(argv[0]);
        say(": errno ");
        say(digits + at);
        say("\n");
    }
    for (;;) syscall3(__NR_exit_group, 127, 0, 0);
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call dmz_main\n"
        "    hlt\n");
