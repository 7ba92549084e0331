// SPDX-License-Identifier: Apache-2.0
// SOCK_SEQPACKET backend.
#include "devices/virtio/net/seqpacket_backend.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

namespace vmm::devices::virtio {

Result<SeqpacketBackend> SeqpacketBackend::create(UniqueFd socket) {
    int const flags = ::fcntl(socket.get(), F_GETFL);
    if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) < 0)
        return fail_errno("net socket: O_NONBLOCK", errno);
    return SeqpacketBackend(std::move(socket));
}

ssize_t SeqpacketBackend::send(std::span<iovec const> frame) {
    msghdr message{};
    message.msg_iov = const_cast<iovec*>(frame.data());
    message.msg_iovlen = frame.size();
    ssize_t const sent = ::sendmsg(m_socket.get(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) return sent;
    if (errno == EWOULDBLOCK) return -EAGAIN;
    if (errno == ECONNRESET || errno == ENOTCONN) return -EPIPE;
    return -errno;
}

ssize_t SeqpacketBackend::receive(std::span<uint8_t> buffer) {
    iovec io{buffer.data(), buffer.size()};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    ssize_t const length = ::recvmsg(m_socket.get(), &message, MSG_DONTWAIT);
    if (length < 0) {
        if (errno == EWOULDBLOCK) return -EAGAIN;
        if (errno == ECONNRESET || errno == ENOTCONN) return -EPIPE;
        return -errno;
    }
    // A seqpacket socket reads 0 at the peer's end; the helper never sends empty frames.
    if (length == 0) return -EPIPE;
    return length;
}

}  // namespace vmm::devices::virtio
