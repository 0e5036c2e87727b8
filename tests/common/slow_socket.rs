//! A client socket shaped like one across the internet rather than on loopback, for clients that
//! stop reading: segments of at most 1460 bytes and a fixed 64 KiB receive buffer. On loopback
//! the segment size is 64 KiB, and Linux sizes the server's send buffer from it (about 2 × the
//! congestion window × the segment), so a client that stops reading lets the kernel take up to
//! 4 MiB off the server before its writes block, as much as the whole reply; with internet-sized
//! segments it takes a few hundred KiB at first, growing to about 1 MiB (measured with `ss`).
#![allow(dead_code)]

use std::os::fd::AsRawFd;

/// A TCP socket, not yet connected, with internet-sized segments and a 64 KiB receive buffer.
pub fn internet_shaped() -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().expect("tcp socket");
    socket.set_recv_buffer_size(64 * 1024).expect("SO_RCVBUF");
    let mss: libc::c_int = 1460;
    // SAFETY: a valid socket descriptor and a c_int option value of the right length.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            std::ptr::from_ref(&mss).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "TCP_MAXSEG: {}", std::io::Error::last_os_error());
    socket
}
