// UDP, the seed's UDPServer with its padding fixed: the reply has exactly receivePacket.getLength() bytes,
// upper-cased a-z only, but the receive buffer is still the seed's byte[1024], so a larger datagram is cut to
// its first 1,024 bytes. Defect: U1. (Java's DatagramSocket cannot choose
// its reply's source address, so U2's SHOULD as well.) SIGTERM: answer what is queued, exit 0.
import java.net.*;

public class Buffer1024Server {
    static volatile boolean stopping = false;

    public static void main(String[] args) throws Exception {
        DatagramSocket sock = new DatagramSocket(Integer.parseInt(args[0]));
        sock.setSoTimeout(100);
        Thread main = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping = true;
            try { main.join(10_000); } catch (InterruptedException e) { }
            Runtime.getRuntime().halt(0);
        }));
        byte[] receiveData = new byte[1024];
        for (;;) {
            DatagramPacket p = new DatagramPacket(receiveData, receiveData.length);
            try {
                sock.receive(p);
            } catch (SocketTimeoutException e) {
                if (stopping) break;
                continue;
            }
            byte[] data = p.getData();
            for (int i = 0; i < p.getLength(); i++)
                if (data[i] >= 'a' && data[i] <= 'z') data[i] -= 0x20;
            sock.send(new DatagramPacket(data, p.getLength(), p.getSocketAddress()));
        }
        sock.close();
    }
}
