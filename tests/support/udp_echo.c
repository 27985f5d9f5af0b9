/* A UDP echo server for container tests (busybox has none): udp-echo PORT. */
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char** argv) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons(argc > 1 ? atoi(argv[1]) : 7);
    if (fd < 0 || bind(fd, (struct sockaddr*)&address, sizeof address) != 0) return 1;
    for (;;) {
        char buffer[2048];
        struct sockaddr_in peer;
        socklen_t length = sizeof peer;
        ssize_t got = recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr*)&peer, &length);
        if (got > 0) sendto(fd, buffer, (size_t)got, 0, (struct sockaddr*)&peer, length);
    }
}
